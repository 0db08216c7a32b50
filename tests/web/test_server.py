"""The page's server over h11 on a kernel socket: the page, the static files, /events replayed
then live (and from Last-Event-ID), a slow client let go; `minitcp lab NAME --web` serves its
lab until Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import struct
import subprocess
import sys
from typing import Any

import h11
import pytest
import trio

from minitcp.web.log import EventLog
from minitcp.web.page import render_page
from minitcp.web.server import WebServer, parse_addr


def _event(n: int) -> dict[str, Any]:
    return {"id": n, "t": n / 10, "kind": "state", "host": "minitcp", "conn": "a b", "local": "a",
            "remote": "b", "old": "LISTEN", "new": "SYN_RECEIVED"}


async def _get(port: int, target: str, headers: tuple[tuple[str, str], ...] = (), *,
               events: int | None = None) -> tuple[int, dict[bytes, bytes], bytes]:
    """GET target; for /events, read until `events` messages came."""
    client = h11.Connection(h11.CLIENT)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(client.send(h11.Request(method="GET", target=target,
                                                      headers=[("host", "x"), *headers])))
        await stream.send_all(client.send(h11.EndOfMessage()))
        status, head, body = 0, {}, b""
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                client.receive_data(await stream.receive_some())
            elif isinstance(event, h11.Response):
                status, head = event.status_code, dict(event.headers)
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
                if events is not None and body.count(b"\n\n") >= events:
                    return status, head, body
            else:
                return status, head, body


def _messages(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(m.split("data: ", 1)[1]) for m in body.decode().split("\n\n") if m]


def test_addresses_as_the_command_line_gives_them() -> None:
    assert parse_addr("127.0.0.1:8480") == ("127.0.0.1", 8480)
    assert parse_addr("8481") == ("127.0.0.1", 8481)
    assert parse_addr("[::1]:8482") == ("::1", 8482)
    assert parse_addr("127.0.0.2") == ("127.0.0.2", 8470)


async def test_page_static_files_and_events_replayed_then_live(nursery: trio.Nursery) -> None:
    log = EventLog()
    log.add([_event(0), _event(1)])
    settings = {"mode": "live", "source": "/events", "events": [], "note": "</script>"}
    server = WebServer(log, lambda: render_page(settings))
    listeners = await nursery.start(server.serve, "127.0.0.1", 0)
    port = listeners[0].socket.getsockname()[1]
    status, head, body = await _get(port, "/")
    assert status == 200 and head[b"content-type"].startswith(b"text/html")
    page = body.decode()
    assert '"source": "/events"' in page and "<\\/script>" in page  # settings inlined, unbroken
    assert "function draw()" in page and ".seg line" in page  # app.js and style.css inlined
    assert (await _get(port, "/app.js"))[2].startswith(b"// minitcp's ladder page")
    assert (await _get(port, "/nothing"))[0] == 404

    async def add_later() -> None:
        await trio.sleep(0.05)
        log.add([_event(2)])

    nursery.start_soon(add_later)
    with trio.fail_after(5):
        status, head, body = await _get(port, "/events", events=3)
    assert head[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert [e["id"] for e in _messages(body)] == [0, 1, 2]
    assert body.startswith(b"id: 0\ndata: {")
    with trio.fail_after(5):
        _, _, body = await _get(port, "/events", (("last-event-id", "1"),), events=1)
    assert [e["id"] for e in _messages(body)] == [2]
    with trio.fail_after(5):
        while log.listeners:  # every reader gone (its handler saw the close), none left behind
            await trio.sleep(0.01)


async def test_a_client_that_falls_too_far_behind_is_let_go(nursery: trio.Nursery,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("minitcp.web.server.QUEUE", 3)
    log = EventLog()
    server = WebServer(log, lambda: "")
    listeners = await nursery.start(server.serve, "127.0.0.1", 0)
    port = listeners[0].socket.getsockname()[1]
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
    with trio.fail_after(5):
        while not log.listeners:
            await trio.sleep(0.01)
    log.add([_event(n) for n in range(10)])  # all at once: more than QUEUE before it can send
    with trio.fail_after(5):
        while log.listeners:
            await trio.sleep(0.01)
    await stream.aclose()


async def test_a_tab_closed_while_events_stream_ends_its_handler_quietly(nursery: trio.Nursery) -> None:
    """A browser that goes away mid-stream (reset, not a clean close) is what a peer may do: its
    handler ends, the server's task goes on serving (a send into the dead socket, raised inside
    the handler's nursery, must not escape as an exception group and end the server)."""
    log = EventLog()
    server = WebServer(log, lambda: "")
    listeners = await nursery.start(server.serve, "127.0.0.1", 0)
    port = listeners[0].socket.getsockname()[1]
    for _ in range(3):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
        with trio.fail_after(5):
            while not log.listeners:
                await trio.sleep(0.01)
        # SO_LINGER 0: the close resets the connection, so the server's next sends fail.
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()
        for n in range(200):
            log.add([_event(n)])
            await trio.sleep(0)
        with trio.fail_after(5):
            while log.listeners:
                await trio.sleep(0.01)
    assert (await _get(port, "/nothing"))[0] == 404  # still serving


def test_lab_web_serves_the_lab_until_ctrl_c() -> None:
    command = [sys.executable, "-m", "minitcp.cli", "lab", "handshake", "--sim", "--web", "127.0.0.1:8479"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or "the page is at" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        assert "http://127.0.0.1:8479/" in lines[-1] and "verdict: PASS" in "".join(lines)

        async def fetch() -> bytes:
            with trio.fail_after(10):
                return (await _get(8479, "/"))[2]

        page = trio.run(fetch).decode()
        assert '"mode": "lab"' in page and '"name": "handshake"' in page and '"questions": [' in page
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
