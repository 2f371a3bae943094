"""HTTP fetching: DNS rebinding, an overall deadline and a streamed size cap.

Only loopback servers started (and stopped) by each test are contacted; host names are
resolved by a patched resolver, and the policy's public-address check is patched to accept
exactly the loopback address the test calls public.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from langchain_core.tools import ToolException

from langchain_lumos.tools import url_policy
from langchain_lumos.tools.fetch import HttpFetcher, html_page
from langchain_lumos.tools.url_policy import UrlPolicy

pytestmark = pytest.mark.enable_socket


class _Server:
    """A loopback HTTP server whose handler is `respond(handler)`; records what it saw."""

    def __init__(self, host: str, port: int, respond: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.requests: list[dict[str, str]] = []
        self.sent = 0
        self.stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append({"path": self.path, **dict(self.headers)})
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    respond(self)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _page(body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    def respond(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return respond


@pytest.fixture
def public_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat 127.0.0.1 (only) as a public address."""
    monkeypatch.setattr(url_policy, "_is_public", lambda ip: str(ip) == "127.0.0.1")


@pytest.fixture
def servers() -> Iterator[list[_Server]]:
    started: list[_Server] = []
    yield started
    for server in started:
        server.close()


def test_dns_rebinding_connects_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, public_loopback: None, servers: list[_Server]
) -> None:
    public = _Server("127.0.0.1", 0, _page(b"PUBLIC"))
    servers.append(public)
    servers.append(_Server("127.0.0.2", public.port, _page(b"SECRET")))  # the rebinding target
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])  # first answer public, every later one internal
    lookups: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            lookups.append(host)
            return real(next(answers, "127.0.0.2"), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    policy = UrlPolicy(["rebind.test"], allowed_ports=[public.port])
    page = HttpFetcher(policy, timeout_s=5).get(f"http://rebind.test:{public.port}/wiki/X")
    assert page.content == b"PUBLIC"
    assert lookups == ["rebind.test"]  # resolved once, by the policy check
    assert public.requests[0]["Host"] == f"rebind.test:{public.port}"
    assert page.url == f"http://rebind.test:{public.port}/wiki/X"

    answers = iter(["127.0.0.1"])
    page = asyncio.run(HttpFetcher(policy, timeout_s=5).aget(f"http://rebind.test:{public.port}/a"))
    assert page.content == b"PUBLIC"


def test_a_host_that_resolves_to_an_internal_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, public_loopback: None
) -> None:
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda h, p, *a, **k: real("127.0.0.2", p, *a, **k))
    with pytest.raises(ToolException, match="non-public"):
        HttpFetcher(UrlPolicy(["evil.test"]), timeout_s=2).get("http://evil.test/")


def test_a_slow_server_cannot_outlast_the_deadline(public_loopback: None, servers: list[_Server]) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.end_headers()
        while not server.stop.is_set():  # one byte every 0.2 s, for ever
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.2)

    server = _Server("127.0.0.1", 0, drip)
    servers.append(server)
    policy = UrlPolicy(["127.0.0.1"], allowed_ports=[server.port])
    url = f"http://127.0.0.1:{server.port}/"
    start = time.monotonic()
    with pytest.raises(ToolException, match=r"within 1\.5 s"):
        HttpFetcher(policy, timeout_s=1.5).get(url)
    assert time.monotonic() - start < 2.5
    start = time.monotonic()
    with pytest.raises(ToolException, match=r"within 1\.5 s"):
        asyncio.run(HttpFetcher(policy, timeout_s=1.5).aget(url))
    assert time.monotonic() - start < 2.5


def test_max_bytes_stops_reading_while_streaming(public_loopback: None, servers: list[_Server]) -> None:
    chunk = b"y" * 65_536

    def flood(h: BaseHTTPRequestHandler) -> None:  # 300 MB, no Content-Length
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.end_headers()
        for _ in range(300 * 16):
            if server.stop.is_set():
                return
            h.wfile.write(chunk)
            server.sent += len(chunk)

    server = _Server("127.0.0.1", 0, flood)
    servers.append(server)
    policy = UrlPolicy(["127.0.0.1"], allowed_ports=[server.port])
    url = f"http://127.0.0.1:{server.port}/"
    with pytest.raises(ToolException, match="larger than 100000 bytes"):
        HttpFetcher(policy, timeout_s=5, max_bytes=100_000).get(url)
    with pytest.raises(ToolException, match="larger than 100000 bytes"):
        asyncio.run(HttpFetcher(policy, timeout_s=5, max_bytes=100_000).aget(url))
    time.sleep(0.2)
    assert server.sent < 20_000_000  # the client stopped reading long before 600 MB


def test_declared_oversized_body_is_refused_before_reading(
    public_loopback: None, servers: list[_Server]
) -> None:
    def declared(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(10**9))
        h.end_headers()
        h.wfile.write(b"z" * 1000)

    server = _Server("127.0.0.1", 0, declared)
    servers.append(server)
    policy = UrlPolicy(["127.0.0.1"], allowed_ports=[server.port])
    with pytest.raises(ToolException, match="larger than"):
        HttpFetcher(policy, timeout_s=5).get(f"http://127.0.0.1:{server.port}/")


def test_redirects_are_checked_and_pinned_hop_by_hop(public_loopback: None, servers: list[_Server]) -> None:
    body = b"<html><title>T</title><p>" + b"word " * 12 + b"</p></html>"

    def respond(h: BaseHTTPRequestHandler) -> None:
        if h.path == "/start":
            h.send_response(302)
            h.send_header("Location", "/end")
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif h.path == "/internal":
            h.send_response(302)
            h.send_header("Location", "http://10.0.0.1/")
            h.send_header("Content-Length", "0")
            h.end_headers()
        else:
            _page(body)(h)

    server = _Server("127.0.0.1", 0, respond)
    servers.append(server)
    policy = UrlPolicy(["127.0.0.1"], allowed_ports=[server.port])
    page = HttpFetcher(policy, timeout_s=5).get(f"http://127.0.0.1:{server.port}/start")
    assert page.url.endswith("/end")
    assert html_page(page.url, page.text) == [("T", " ".join(["word"] * 12))]
    with pytest.raises(ToolException, match="not on the allow-list"):
        HttpFetcher(policy, timeout_s=5).get(f"http://127.0.0.1:{server.port}/internal")


def test_policy_returns_the_addresses_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda h, p, *a, **k: real("93.184.216.34", p, *a, **k))
    assert UrlPolicy(["example.org"]).check_url("https://example.org/") == ("93.184.216.34",)
    assert UrlPolicy(["93.184.216.34"]).check_url("https://93.184.216.34/") == ("93.184.216.34",)
    assert UrlPolicy(["example.org"], resolve_dns=False).check_url("https://example.org/") == ()
    with pytest.raises(ToolException, match="non-default port"):
        UrlPolicy(["example.org"]).check_url("https://example.org:8443/")
    assert UrlPolicy(["example.org"], allowed_ports=[8443]).check_url("https://example.org:8443/")
    assert ipaddress.ip_address("93.184.216.34").is_global
