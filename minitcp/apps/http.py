"""A small HTTP/1.1 server on h11 (port 80), enough for curl, browsers and load tests; and a client.

    /            a short HTML page about minitcp, and the TCP connection it came over
    /bytes/N     N bytes (0 <= N <= 10 GB) of a repeated pattern, written 1 MiB at a time
    otherwise    404

GET and HEAD only (405 for others). Connections are kept alive between
requests (HTTP/1.1's default) until the client closes, asks for
`Connection: close` (then the server closes first: its FIN follows the
response), or stays idle for `idle_timeout` seconds (0: no limit). A request h11 cannot
parse gets a 400 and the connection is closed.

The body of /bytes/N is byte i = i % 256, so a client can check a download
of any size without the server ever holding it: `pattern_sha256(n)`.

`fetch()` is the other direction: an active open from minitcp to any HTTP
server (such as `python3 -m http.server` on the kernel's side), downloading
one path and hashing it as it arrives.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import http
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, cast

import h11
import trio

from ..sockets.streams import open_tcp_stream
from .base import AppServer

if TYPE_CHECKING:
    from ..stack import Stack

MAX_BYTES = 10 * 10**9  # /bytes/N refuses larger N with 400
BLOCK = bytes(range(256)) * 4096  # 1 MiB: byte i is i % 256, and every block starts at 0
RECEIVE_SIZE = 65536
MAX_HEADERS = 16384  # h11 rejects a request head larger than this (431 would be kinder; 400 is fine)
SERVER = b"minitcp/0.1 (h11)"


def pattern_chunks(n: int) -> Iterator[bytes | memoryview]:
    """The body of /bytes/n, in chunks of at most 1 MiB; nothing is built beyond one block.

    Large writes: each one costs a socket call and a Trio checkpoint (tens of µs), so
    64 KiB writes held bulk_out_65000 at 650 MB/s where 1 MiB writes reach 1800."""
    full, rest = divmod(n, len(BLOCK))
    for _ in range(full):
        yield BLOCK
    if rest:
        yield memoryview(BLOCK)[:rest]


def pattern_bytes(n: int) -> bytes:
    """The body of /bytes/n in one piece (for small n)."""
    return b"".join(pattern_chunks(n))


def pattern_sha256(n: int) -> str:
    """SHA-256 (hex) of the body of /bytes/n, computed without holding it."""
    hasher = hashlib.sha256()
    for chunk in pattern_chunks(n):
        hasher.update(chunk)
    return hasher.hexdigest()


def parse_byte_count(text: str) -> int | None:
    """N of /bytes/N: decimal digits only, at most MAX_BYTES; None when it is not that."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_BYTES)):
        return None
    n = int(text)
    return n if n <= MAX_BYTES else None


class HttpServer(AppServer):
    name = "http"
    default_port = 80

    # The handler waits at most idle_timeout for each request itself, and closes gracefully.
    handles_idle = True

    def __init__(self, *, idle_timeout: float = 60.0, keepalive: bool = False) -> None:
        super().__init__(idle_timeout=idle_timeout, keepalive=keepalive)
        self.requests = 0
        self.body_bytes = 0

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)
        while True:
            try:
                request = None
                with trio.move_on_after(self.idle_timeout or math.inf):
                    request = await _read_request(conn, stream)
                if request is None:
                    break  # the client closed, or stayed idle too long
                await self._respond(conn, stream, request)
            except h11.RemoteProtocolError as exc:
                # Not HTTP we understand: say so if a response may still be sent, then close.
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    status, text = exc.error_status_hint, f"Bad request: {exc}\n"
                    await self._simple(conn, stream, status, text, close=True)
                break
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                break  # MUST_CLOSE: `Connection: close` or HTTP/1.0; we close first
            conn.start_next_cycle()
        await stream.aclose()

    async def _respond(self, conn: h11.Connection, stream: trio.abc.Stream, request: h11.Request) -> None:
        self.requests += 1
        method = request.method.decode("ascii", "replace")
        path = request.target.decode("ascii", "replace").split("?", 1)[0]
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            await self._simple(conn, stream, 405, f"{method} is not served here; try GET.\n",
                               extra=[(b"Allow", b"GET, HEAD")])
        elif path == "/":
            page = _index_page(stream).encode()
            await self._simple(conn, stream, 200, page, content_type=b"text/html; charset=utf-8", head=head)
        elif path.startswith("/bytes/"):
            n = parse_byte_count(path[len("/bytes/"):])
            if n is None:
                await self._simple(
                    conn, stream, 400, f"/bytes/N wants N in decimal digits, 0 to {MAX_BYTES}.\n", head=head
                )
            else:
                await self._send_pattern(conn, stream, n, head)
        else:
            await self._simple(conn, stream, 404, f"Nothing at {path}; try / or /bytes/1000.\n", head=head)

    async def _send_pattern(self, conn: h11.Connection, stream: trio.abc.Stream, n: int, head: bool) -> None:
        headers = [(b"Content-Type", b"application/octet-stream"), (b"Content-Length", str(n).encode())]
        await _send(conn, stream, _response(200, headers))
        if not head:
            for chunk in pattern_chunks(n):
                # h11 takes any bytes-like body (it joins it into the output): no copy of a view.
                await _send(conn, stream, h11.Data(data=cast(bytes, chunk)))
                self.body_bytes += len(chunk)
        await _send(conn, stream, h11.EndOfMessage())

    async def _simple(
        self,
        conn: h11.Connection,
        stream: trio.abc.Stream,
        status: int,
        body: str | bytes,
        *,
        content_type: bytes = b"text/plain; charset=utf-8",
        extra: list[tuple[bytes, bytes]] | None = None,
        head: bool = False,
        close: bool = False,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        headers = [(b"Content-Type", content_type), (b"Content-Length", str(len(data)).encode())]
        headers += extra or []
        if close:
            headers.append((b"Connection", b"close"))
        # One write for the whole response, so a small one leaves in one segment.
        events: list[h11.Event] = [_response(status, headers)]
        if data and not head:
            events.append(h11.Data(data=data))
            self.body_bytes += len(data)
        events.append(h11.EndOfMessage())
        await stream.send_all(b"".join(conn.send(event) or b"" for event in events))


def _response(status: int, headers: list[tuple[bytes, bytes]]) -> h11.Response:
    reason = http.HTTPStatus(status).phrase.encode()
    return h11.Response(status_code=status, reason=reason, headers=[(b"Server", SERVER), *headers])


async def _send(conn: h11.Connection, stream: trio.abc.Stream, event: h11.Event) -> None:
    if isinstance(event, h11.Data):
        # The passthrough variant hands the chunk on as it is: no copy of 1 MiB.
        for piece in conn.send_with_data_passthrough(event) or ():
            await stream.send_all(piece)
    else:
        data = conn.send(event)  # the response head in one piece, not one write per header line
        if data:
            await stream.send_all(data)


async def _read_request(conn: h11.Connection, stream: trio.abc.Stream) -> h11.Request | None:
    """The next request, its body read and dropped; None if the client closed instead."""
    request = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            # b"" is the client's FIN; h11 takes a bytearray as it takes bytes.
            conn.receive_data(cast(bytes, await stream.receive_some(RECEIVE_SIZE)))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            return request
        elif isinstance(event, h11.ConnectionClosed):
            return None
        elif event is h11.PAUSED:
            return None  # only after our own errors; nothing more to read
        # h11.Data: a request body, which no resource here wants


def _index_page(stream: trio.abc.Stream) -> str:
    sock = getattr(stream, "socket", None)
    conn = getattr(sock, "connection", None)
    rows = ""
    if conn is not None:
        info = conn.info()
        facts = [
            ("you are", info["peer"]),
            ("minitcp is", info["local"]),
            ("state", info["state"]),
            ("MSS", f"{info['mss']} bytes"),
            ("smoothed RTT", f"{info['rtt'] * 1000:.3f} ms"),
            ("congestion window", f"{info['cwnd']} segments"),
            ("options", ", ".join(n for n, on in (("SACK", info["sack"]), ("timestamps", info["ts"]),
                                                   ("window scaling", info["wscale"] is not None)) if on)),
        ]
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
        rows = f"<h2>The connection this page came over</h2><table>{rows}</table>"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>minitcp</title></head>
<body>
<h1>Hello from minitcp</h1>
<p>This page was served by <b>minitcp</b>, a TCP/IP stack written in Python that runs
in user space on a Linux TUN device. Every segment of this response was built by it:
the handshake, the data, the acknowledgements, and soon the FIN.</p>
{rows}
<p>Try <a href="/bytes/1000000">/bytes/1000000</a> for a megabyte of bytes
(<code>curl -o /dev/null http://198.18.0.2/bytes/100000000</code> for a throughput test).</p>
</body></html>
"""


@dataclasses.dataclass
class Download:
    status: int
    headers: list[tuple[bytes, bytes]]
    nbytes: int
    sha256: str  # hex digest of the body
    seconds: float  # from connect() to the end of the body

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.seconds / 1e6 if self.seconds > 0 else 0.0


async def fetch(
    stack: Stack,
    host: str,
    port: int,
    path: str,
    *,
    on_data: Callable[[bytes], None] | None = None,
) -> Download:
    """GET `path` from http://host:port with minitcp as the client; one request, `Connection: close`.

    The body is hashed (and handed to `on_data`) as it arrives, never kept
    whole. Raises OSError as connect(2) would (ECONNREFUSED when nothing
    listens) and h11.RemoteProtocolError if the server's answer is not HTTP.
    """
    start = trio.current_time()
    stream = await open_tcp_stream(stack, host, port)
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        authority = host if port == 80 else f"{host}:{port}"
        request = h11.Request(method="GET", target=path, headers=[
            ("Host", authority), ("User-Agent", "minitcp/0.1"), ("Connection", "close"),
        ])
        await stream.send_all(conn.send(request) + (conn.send(h11.EndOfMessage()) or b""))
        hasher = hashlib.sha256()
        status, headers, nbytes = 0, [], 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(RECEIVE_SIZE))
            elif isinstance(event, h11.Response):
                status, headers = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                hasher.update(event.data)
                nbytes += len(event.data)
                if on_data is not None:
                    on_data(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        seconds = trio.current_time() - start
    return Download(status, headers, nbytes, hasher.hexdigest(), seconds)
