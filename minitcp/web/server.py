"""The page's server: HTTP/1.1 over h11 on a kernel socket of the host (never on minitcp's own
device, so watching does not change what is watched).

GET /         the page (page.py: static/index.html with its CSS, JS and settings inlined)
GET /events   Server-Sent Events: every kept event (EventLog.replay, after `Last-Event-ID` if the
              browser reconnects), then each new one as it is added; `id:` is the event's id
GET /app.js, /style.css   the static files themselves
A client that falls `QUEUE` events behind is let go (its browser reconnects and replays), so a
slow page never makes the server hold more than the log.
"""

from __future__ import annotations

import json
import math
import signal
import socket
from collections.abc import Callable
from typing import Any

import h11
import trio

from .log import EventLog, WebEvent
from .page import static_text

DEFAULT_ADDR = "127.0.0.1"
DEFAULT_PORT = 8470
QUEUE = 4096  # events a client may fall behind before it is let go
MAX_REQUEST = 16384  # bytes of request head we read


def parse_addr(text: str) -> tuple[str, int]:
    """`ADDR:PORT`, `ADDR`, `:PORT` or `PORT` -> (address, port), defaults 127.0.0.1 and 8470."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = ("", text) if text.isdigit() else (text, "")
    return host.strip("[]") or DEFAULT_ADDR, int(port) if port else DEFAULT_PORT


def listen_socket(addr: str = DEFAULT_ADDR, port: int = DEFAULT_PORT) -> socket.socket:
    """A listening kernel socket for the page, made now: one made before a process moves into a
    network namespace of its own (`minitcp shell` against the kernel) stays in the host's, where
    the browser is."""
    sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def sse(event: WebEvent) -> bytes:
    return f"id: {event['id']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


class WebServer:
    """Serves `page()` (the HTML, built per request) and the log's events."""

    def __init__(self, log: EventLog, page: Callable[[], str]) -> None:
        self.log = log
        self.page = page

    async def serve(
        self, addr: str = DEFAULT_ADDR, port: int = DEFAULT_PORT, *, sock: socket.socket | None = None,
        task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on `addr`:`port`, or on `sock` if given (see `listen_socket`), until cancelled."""
        if sock is not None:
            listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(sock))]
        else:
            listeners = await trio.open_tcp_listeners(port, host=addr)
        task_status.started(listeners)
        await trio.serve_listeners(self.handle, listeners)

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            with trio.move_on_after(30):  # the request head must come in reasonable time
                request = await _request(conn, stream)
            if request is None:
                return
            target = request.target.decode("ascii", "replace").split("?", 1)[0]
            if request.method not in (b"GET", b"HEAD"):
                await _send(conn, stream, 405, "text/plain", b"GET only\n")
            elif target == "/events":
                await self._events(conn, stream, request)
            elif target in ("/", "/index.html"):
                await _send(conn, stream, 200, "text/html; charset=utf-8", self.page().encode())
            elif target in ("/app.js", "/style.css"):
                kind = "text/javascript" if target.endswith(".js") else "text/css"
                await _send(conn, stream, 200, f"{kind}; charset=utf-8", static_text(target[1:]).encode())
            else:
                await _send(conn, stream, 404, "text/plain", b"not found\n")
        except* (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            # The browser went away; caught with except* because a send that fails inside the
            # events stream's nursery arrives wrapped in an exception group (trio's strict groups).
            pass
        finally:
            await stream.aclose()

    async def _events(self, conn: h11.Connection, stream: trio.SocketStream, request: h11.Request) -> None:
        last = dict(request.headers).get(b"last-event-id", b"-1")
        after = int(last) if last.lstrip(b"-").isdigit() else -1
        send, receive = trio.open_memory_channel[WebEvent](math.inf)
        pending = [0]

        def listener(event: WebEvent) -> None:
            if pending[0] >= QUEUE:
                send.close()  # fell too far behind: let it go
                return
            pending[0] += 1
            send.send_nowait(event)

        headers = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]
        await stream.send_all(conn.send(h11.Response(status_code=200, headers=headers)))
        self.log.listeners.add(listener)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_until_closed, stream, nursery.cancel_scope)  # a closed tab: stop
                replay = self.log.replay(after)
                for i in range(0, len(replay), 256):
                    chunk = b"".join(sse(e) for e in replay[i:i + 256])
                    await stream.send_all(conn.send(h11.Data(data=chunk)))
                seen = replay[-1]["id"] if replay else after
                async for event in receive:
                    pending[0] -= 1
                    if event["id"] > seen:
                        await stream.send_all(conn.send(h11.Data(data=sse(event))))
                nursery.cancel_scope.cancel()  # let go (fell behind): the watcher too
        finally:
            self.log.listeners.discard(listener)


async def _until_closed(stream: trio.SocketStream, scope: trio.CancelScope) -> None:
    """Read (and ignore) what the browser sends after its request, until it closes."""
    try:
        while await stream.receive_some(MAX_REQUEST):
            pass
    except trio.BrokenResourceError:
        pass
    scope.cancel()


async def _request(conn: h11.Connection, stream: trio.SocketStream) -> h11.Request | None:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(MAX_REQUEST)
            conn.receive_data(data)
            if not data:
                return None
        elif isinstance(event, h11.Request):
            return event
        else:
            return None


async def _send(conn: h11.Connection, stream: trio.SocketStream, status: int, kind: str, body: bytes) -> None:
    headers: list[tuple[str, Any]] = [("content-type", kind), ("content-length", str(len(body)))]
    await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)))
    await stream.send_all(conn.send(h11.Data(data=body)))
    await stream.send_all(conn.send(h11.EndOfMessage()))


def serve_settings(settings: dict[str, Any], addr: str = DEFAULT_ADDR, port: int = DEFAULT_PORT) -> None:
    """Serve a finished run (a lab's settings, events embedded) until Ctrl-C: `minitcp lab NAME --web`."""
    from .page import render_page

    log = EventLog()
    log.add(settings.get("events", []))
    server = WebServer(log, lambda: render_page(settings))

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                listeners = await nursery.start(server.serve, addr, port)
                print(f"minitcp: the page is at {page_url(listeners)}; Ctrl-C stops", flush=True)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)


def page_url(listeners: list[trio.SocketListener]) -> str:
    host, port = listeners[0].socket.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"
