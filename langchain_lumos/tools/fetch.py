"""HTTP fetching for the knowledge tools: checked, pinned, bounded.

`HttpFetcher.get` fetches a URL the model wrote (or an API URL) under a `UrlPolicy`:

- every URL and every redirect hop is checked by the policy, and the connection goes to
  exactly the address the policy checked (the URL's host stays in the `Host` header and in
  TLS SNI, so certificates are verified for the host name): a DNS answer that changes between
  the check and the connection (DNS rebinding) cannot send the request elsewhere;
- one overall deadline (`timeout_s`) covers the whole fetch: connection, redirects and the
  body, so a server that drips one byte per second cannot keep a call alive;
- the body is streamed and reading stops at `max_bytes`: a larger page is refused without
  ever being read whole.

`html_page` extracts the title and the paragraphs of an HTML page the way the original Lumos
tool did (paragraphs longer than 10 words).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from langchain_core.tools import ToolException

from langchain_lumos.tools.url_policy import UrlPolicy, wiki_title_from_url

__all__ = ["USER_AGENT", "FetchedPage", "HttpFetcher", "html_page"]

USER_AGENT = "langchain-lumos/0.1 (https://github.com/allenai/lumos re-implementation)"
_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class FetchedPage:
    """A fetched response body.

    Attributes:
        url: The final URL (after redirects), with its host name.
        status_code: The HTTP status.
        content: The body bytes (at most the fetcher's `max_bytes`).
        encoding: The charset the response declared, if any.
    """

    url: str
    status_code: int
    content: bytes
    encoding: str | None = None

    @property
    def text(self) -> str:
        """The body decoded with the declared charset (UTF-8 by default, errors replaced)."""
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ToolException: When the body is not JSON.
        """
        try:
            return json.loads(self.content)
        except ValueError as exc:
            msg = f"Fetching {self.url} failed: the response is not JSON."
            raise ToolException(msg) from exc


def _pinned(url: str, addresses: tuple[str, ...]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL rewritten to the first checked address, its Host header and SNI extension."""
    if not addresses:
        return url, {}, {}
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return url, {}, {}  # already a literal address: nothing to resolve again
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme.lower() == "https" else {}
    return pinned, {"Host": host_header}, extensions


class HttpFetcher:
    """Fetches pages over httpx under a `UrlPolicy` (see the module docstring).

    Args:
        policy: Which URLs may be fetched.
        timeout_s: Deadline of one whole `get` (connection, redirects, body).
        max_bytes: Largest body accepted; reading stops there.
    """

    def __init__(self, policy: UrlPolicy, timeout_s: float, max_bytes: int = 2_000_000) -> None:
        if timeout_s <= 0 or max_bytes <= 0:
            msg = "HttpFetcher needs a positive timeout_s and max_bytes."
            raise ValueError(msg)
        self.policy = policy
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "timeout": self.timeout_s,
            "follow_redirects": False,
            "headers": {"User-Agent": USER_AGENT},
            "trust_env": False,
        }

    def _timeout(self, deadline: float, url: str) -> Any:
        import httpx

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            msg = f"Fetching {url} failed: no answer within {self.timeout_s:g} s."
            raise ToolException(msg)
        return httpx.Timeout(min(self.timeout_s, remaining))

    def _too_large(self, url: str) -> ToolException:
        return ToolException(f"Fetching {url} failed: the page is larger than {self.max_bytes} bytes.")

    def _late(self, url: str) -> ToolException:
        return ToolException(f"Fetching {url} failed: no complete answer within {self.timeout_s:g} s.")

    def _head(self, resp: Any, url: str) -> str | None:
        """Redirect target, or None; raises for HTTP errors and oversized declared lengths."""
        if resp.is_redirect and "location" in resp.headers:
            return urljoin(url, resp.headers["location"])
        if resp.status_code >= 400:
            msg = f"Fetching {url} failed: HTTP {resp.status_code}."
            raise ToolException(msg)
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(url)
        return None

    def get(self, url: str, params: dict[str, Any] | None = None) -> FetchedPage:
        """Fetch `url` (GET with query `params`), following checked redirects.

        Raises:
            ToolException: Refused URL, network error, HTTP error, too large or too slow.
        """
        import httpx

        deadline = time.monotonic() + self.timeout_s
        with httpx.Client(**self._client_kwargs()) as client:
            for _ in range(_MAX_REDIRECTS):
                addresses = self.policy.check_url(url)
                target, headers, extensions = _pinned(url, addresses)
                request = client.build_request(
                    "GET",
                    target,
                    params=params,
                    headers=headers,
                    extensions=extensions,
                    timeout=self._timeout(deadline, url),
                )
                try:
                    resp = client.send(request, stream=True)
                    try:
                        location = self._head(resp, url)
                        if location is not None:
                            url, params = location, None
                            continue
                        body = bytearray()
                        for chunk in resp.iter_bytes():
                            body += chunk
                            if len(body) > self.max_bytes:
                                raise self._too_large(url)
                            if time.monotonic() > deadline:
                                raise self._late(url)
                        return FetchedPage(url, resp.status_code, bytes(body), resp.charset_encoding)
                    finally:
                        resp.close()
                except httpx.HTTPError as exc:
                    msg = f"Fetching {url} failed: {exc}"
                    raise ToolException(msg) from exc
        msg = f"Fetching {url} failed: too many redirects."
        raise ToolException(msg)

    async def aget(self, url: str, params: dict[str, Any] | None = None) -> FetchedPage:
        """Async `get`; the deadline is enforced by cancellation."""
        try:
            return await asyncio.wait_for(self._aget(url, params), self.timeout_s)
        except asyncio.TimeoutError as exc:
            raise self._late(url) from exc

    async def _aget(self, url: str, params: dict[str, Any] | None) -> FetchedPage:
        import httpx

        async with httpx.AsyncClient(**self._client_kwargs()) as client:
            for _ in range(_MAX_REDIRECTS):
                addresses = await asyncio.to_thread(self.policy.check_url, url)
                target, headers, extensions = _pinned(url, addresses)
                request = client.build_request(
                    "GET", target, params=params, headers=headers, extensions=extensions
                )
                try:
                    resp = await client.send(request, stream=True)
                    try:
                        location = self._head(resp, url)
                        if location is not None:
                            url, params = location, None
                            continue
                        body = bytearray()
                        async for chunk in resp.aiter_bytes():
                            body += chunk
                            if len(body) > self.max_bytes:
                                raise self._too_large(url)
                        return FetchedPage(url, resp.status_code, bytes(body), resp.charset_encoding)
                    finally:
                        await resp.aclose()
                except httpx.HTTPError as exc:
                    msg = f"Fetching {url} failed: {exc}"
                    raise ToolException(msg) from exc
        msg = f"Fetching {url} failed: too many redirects."
        raise ToolException(msg)


class _TextExtractor(HTMLParser):
    """Collects the text of `<title>`, `<p>` and `<li>` elements of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.blocks: list[str] = []
        self._stack: list[str] = []
        self._buf: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style", "noscript"}:
            self._skip += 1
        elif tag in {"p", "li", "title"}:
            self._flush()
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "noscript"}:
            self._skip = max(0, self._skip - 1)
        elif tag in {"p", "li", "title"} and self._stack:
            if tag == "title":
                self.title = " ".join("".join(self._buf).split())
                self._buf = []
            self._flush()
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and not self._skip:
            self._buf.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        if len(text.split()) > 10:  # the original kept paragraphs longer than 10 words
            self.blocks.append(text)
        self._buf = []


def html_page(url: str, html: str) -> list[tuple[str, str]]:
    """The page as one `(title, text)` pair (paragraphs joined by newlines), or `[]`.

    The title is the page's `<title>`, else the Wikipedia title of the URL, else the URL.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    title = parser.title or wiki_title_from_url(url) or url
    return [(title, "\n".join(parser.blocks))] if parser.blocks else []
