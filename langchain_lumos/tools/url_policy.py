"""URL policy (SSRF protection) for tools that may fetch a URL the model wrote.

A URL is fetched only when (1) its scheme is `http`/`https`, (2) it has no credentials and a
default port (or one of `allowed_ports`), (3) its host is on the allow-list (default:
`en.wikipedia.org`), and (4) every address the host resolves to (`socket.getaddrinfo`) is a
public, globally routable address: private, loopback, link-local (`169.254.169.254` cloud
metadata), reserved, multicast, unspecified and shared (CGNAT) ranges are refused.

`UrlPolicy.check_url` returns the addresses it checked; `langchain_lumos.tools.fetch.HttpFetcher`
connects to exactly one of them (keeping the `Host` header and TLS SNI of the URL), so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot redirect the
request. Redirects are re-checked hop by hop.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from langchain_core.tools import ToolException

__all__ = ["DEFAULT_ALLOWED_HOSTS", "UrlPolicy", "check_url", "extract_url", "wiki_title_from_url"]

DEFAULT_ALLOWED_HOSTS: frozenset[str] = frozenset({"en.wikipedia.org"})

_URL_RE = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+")
_WIKI_PATH_RE = re.compile(r"(?<![\w/.:-])/wiki/[^\s\"'<>]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def extract_url(text: str) -> str | None:
    """Find a URL the model wrote in a tool argument.

    Recognises any `scheme://...` URL and bare `/wiki/Title` paths (the latter are made
    absolute on `https://en.wikipedia.org`, as the original Lumos tool did).

    Args:
        text: The tool argument.

    Returns:
        The absolute URL, or `None` when the text holds no URL.
    """
    match = _URL_RE.search(text)
    if match:
        return match.group(0).rstrip(".,;)")
    match = _WIKI_PATH_RE.search(text)
    if match:
        return "https://en.wikipedia.org" + match.group(0).rstrip(".,;)")
    return None


def wiki_title_from_url(url: str) -> str | None:
    """The article title of a `https://*.wikipedia.org/wiki/Title` URL, else None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.endswith("wikipedia.org") and parts.path.startswith("/wiki/"):
        return unquote(parts.path[len("/wiki/") :]).replace("_", " ").strip() or None
    return None


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs a tool may fetch.

    Args:
        allowed_hosts: Exact host names (lower case) that may be fetched; an entry `*.example.org`
            allows every sub-domain of `example.org`.
        allowed_schemes: URL schemes that may be fetched.
        allowed_ports: Ports allowed besides the scheme's default (80 for http, 443 for https).
        resolve_dns: Resolve the host and refuse non-public addresses (keep on in production:
            it is also what pins the connection to the checked address).
    """

    allowed_hosts: frozenset[str] = field(default=DEFAULT_ALLOWED_HOSTS)
    allowed_schemes: frozenset[str] = field(default=frozenset({"http", "https"}))
    allowed_ports: frozenset[int] = field(default=frozenset())
    resolve_dns: bool = True

    def __init__(
        self,
        allowed_hosts: Iterable[str] = DEFAULT_ALLOWED_HOSTS,
        *,
        allowed_schemes: Iterable[str] = ("http", "https"),
        allowed_ports: Iterable[int] = (),
        resolve_dns: bool = True,
    ) -> None:
        if isinstance(allowed_hosts, str):
            msg = "allowed_hosts must be a collection of host names, not a single string."
            raise TypeError(msg)
        hosts = frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip())
        object.__setattr__(self, "allowed_hosts", hosts)
        object.__setattr__(self, "allowed_schemes", frozenset(s.lower() for s in allowed_schemes))
        object.__setattr__(self, "allowed_ports", frozenset(int(p) for p in allowed_ports))
        object.__setattr__(self, "resolve_dns", resolve_dns)

    def host_allowed(self, host: str) -> bool:
        """Whether `host` matches the allow-list."""
        host = host.lower().rstrip(".")
        for allowed in self.allowed_hosts:
            if allowed.startswith("*."):
                if host.endswith(allowed[1:]):
                    return True
            elif host == allowed:
                return True
        return False

    def check_url(self, url: str, *, resolve: bool | None = None) -> tuple[str, ...]:
        """Raise `ToolException` unless `url` may be fetched; return the checked addresses.

        Args:
            url: An absolute URL.
            resolve: Override `resolve_dns` for this check (`False` when nothing is fetched).

        Returns:
            The addresses the host resolved to, all checked public (the literal address for an
            IP URL; empty when nothing was resolved). Connect to one of these, not to a fresh
            resolution.

        Raises:
            ToolException: The URL is malformed, not allow-listed or resolves to a
                non-public address.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            msg = f"Refused to fetch {url!r}: malformed URL ({exc})."
            raise ToolException(msg) from exc
        scheme = parts.scheme.lower()
        if scheme not in self.allowed_schemes:
            msg = f"Refused to fetch {url!r}: scheme {scheme or '(none)'!r} is not allowed."
            raise ToolException(msg)
        host = (parts.hostname or "").rstrip(".")
        if not host:
            msg = f"Refused to fetch {url!r}: the URL has no host."
            raise ToolException(msg)
        if parts.username is not None or parts.password is not None:
            msg = f"Refused to fetch {url!r}: URLs with credentials are not allowed."
            raise ToolException(msg)
        if port is not None and port != _DEFAULT_PORTS.get(scheme) and port not in self.allowed_ports:
            msg = f"Refused to fetch {url!r}: non-default port {port} is not allowed."
            raise ToolException(msg)
        if not self.host_allowed(host):
            allowed = ", ".join(sorted(self.allowed_hosts)) or "(none)"
            msg = f"Refused to fetch {url!r}: host {host!r} is not on the allow-list ({allowed})."
            raise ToolException(msg)
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None and not _is_public(literal):
            msg = f"Refused to fetch {url!r}: {literal} is not a public address."
            raise ToolException(msg)
        if literal is not None:
            return (str(literal),)
        if not (self.resolve_dns if resolve is None else resolve):
            return ()
        try:
            infos = socket.getaddrinfo(host, port or _DEFAULT_PORTS.get(scheme, 443), type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            msg = f"Refused to fetch {url!r}: cannot resolve host {host!r} ({exc})."
            raise ToolException(msg) from exc
        if not infos:
            msg = f"Refused to fetch {url!r}: host {host!r} has no address."
            raise ToolException(msg)
        checked: list[str] = []
        for info in infos:
            raw = str(info[4][0]).split("%", 1)[0]
            try:
                ip = ipaddress.ip_address(raw)
            except ValueError as exc:
                msg = f"Refused to fetch {url!r}: unexpected address {raw!r}."
                raise ToolException(msg) from exc
            if not _is_public(ip):
                msg = f"Refused to fetch {url!r}: host {host!r} resolves to non-public {ip}."
                raise ToolException(msg)
            if str(ip) not in checked:
                checked.append(str(ip))
        return tuple(checked)


def check_url(url: str, policy: UrlPolicy | None = None) -> tuple[str, ...]:
    """Raise `ToolException` unless `policy` (default: `UrlPolicy()`) allows `url`.

    Returns:
        The checked addresses (see `UrlPolicy.check_url`).
    """
    return (policy or UrlPolicy()).check_url(url)
