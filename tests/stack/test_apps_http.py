"""minitcp.apps.http on in-memory streams: what the server answers, and when it closes."""

from __future__ import annotations

import hashlib

import h11
import pytest
import trio
import trio.testing

from minitcp.apps.http import MAX_BYTES, HttpServer, parse_byte_count, pattern_bytes, pattern_sha256

Response = tuple[int, dict[bytes, bytes], bytes]


def test_pattern_is_byte_i_mod_256_at_any_length() -> None:
    for n in (0, 1, 255, 256, 65535, 65536, 65537, 200_000):
        data = pattern_bytes(n)
        assert len(data) == n
        assert all(data[i] == i % 256 for i in (0, n // 2, n - 1) if n)
        assert data == (bytes(range(256)) * (n // 256 + 1))[:n]
        assert pattern_sha256(n) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("text", "n"),
    [("0", 0), ("1000", 1000), (str(MAX_BYTES), MAX_BYTES), ("007", 7),
     (str(MAX_BYTES + 1), None), ("99999999999999", None), ("-1", None), ("+5", None), ("1e6", None),
     ("", None), (" 5", None), ("٣", None), ("0x10", None)],
)
def test_parse_byte_count(text: str, n: int | None) -> None:
    assert parse_byte_count(text) == n


async def _serve(server: HttpServer, stream: trio.abc.HalfCloseableStream, done: trio.Event) -> None:
    try:
        await server.handle(stream)
    finally:
        done.set()


class Client:
    """An h11 client on one end of a memory stream; the server's handler runs on the other."""

    def __init__(self, nursery: trio.Nursery, server: HttpServer | None = None) -> None:
        self.server = server or HttpServer()
        self.stream, server_end = trio.testing.memory_stream_pair()
        self.done = trio.Event()  # the handler returned (and closed its end)
        self.conn = h11.Connection(h11.CLIENT)
        nursery.start_soon(_serve, self.server, server_end, self.done)

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def request(self, method: str, target: str, headers: list[tuple[str, str]] | None = None) -> None:
        hdrs = [("Host", "198.18.0.2"), *(headers or [])]
        await self.stream.send_all(self.conn.send(h11.Request(method=method, target=target, headers=hdrs)))
        await self.stream.send_all(self.conn.send(h11.EndOfMessage()))

    async def response(self) -> Response:
        status, headers, body = 0, {}, bytearray()
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status, headers = event.status_code, {k.lower(): v for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, headers, bytes(body)
            else:
                raise AssertionError(f"unexpected {event!r}")

    async def get(
        self, target: str, method: str = "GET", headers: list[tuple[str, str]] | None = None
    ) -> Response:
        await self.request(method, target, headers)
        result = await self.response()
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return result

    async def read_to_eof(self) -> bytes:
        data = b""
        while chunk := await self.stream.receive_some(65536):
            data += chunk
        return data


@pytest.mark.parametrize(
    ("target", "status", "body_check"),
    [
        ("/", 200, lambda b: b"<h1>Hello from minitcp</h1>" in b),
        ("/?q=1", 200, lambda b: b"minitcp" in b),
        ("/bytes/0", 200, lambda b: b == b""),
        ("/bytes/1000", 200, lambda b: b == pattern_bytes(1000)),
        ("/bytes/200000", 200, lambda b: b == pattern_bytes(200_000)),
        ("/bytes/", 400, lambda b: b"decimal digits" in b),
        ("/bytes/ten", 400, lambda b: b"decimal digits" in b),
        (f"/bytes/{MAX_BYTES + 1}", 400, lambda b: str(MAX_BYTES).encode() in b),
        ("/bytes/-5", 400, lambda b: True),
        ("/nowhere", 404, lambda b: b"Nothing at /nowhere" in b),
        ("/bytes", 404, lambda b: True),
    ],
)
async def test_get(nursery: trio.Nursery, target: str, status: int, body_check) -> None:  # type: ignore[no-untyped-def]
    client = Client(nursery)
    with trio.fail_after(5):
        got_status, headers, body = await client.get(target)
    assert got_status == status
    assert int(headers[b"content-length"]) == len(body)
    assert headers[b"server"].startswith(b"minitcp")
    assert body_check(body)


async def test_status_lines_carry_reason_phrases(nursery: trio.Nursery) -> None:
    client = Client(nursery)
    await client.send_raw(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    with trio.fail_after(5):
        raw = await client.read_to_eof()
    assert raw.startswith(b"HTTP/1.1 404 Not Found\r\n")


async def test_head_has_the_length_but_no_body(nursery: trio.Nursery) -> None:
    client = Client(nursery)
    with trio.fail_after(5):
        status, headers, body = await client.get("/bytes/5000", method="HEAD")
        status2, _, body2 = await client.get("/bytes/3")  # and the connection is still usable
    assert (status, headers[b"content-length"], body) == (200, b"5000", b"")
    assert (status2, body2) == (200, b"\x00\x01\x02")


async def test_other_methods_get_405(nursery: trio.Nursery) -> None:
    client = Client(nursery)
    with trio.fail_after(5):
        status, headers, _ = await client.get("/", method="DELETE")
    assert status == 405
    assert headers[b"allow"] == b"GET, HEAD"


async def test_keep_alive_serves_many_requests_on_one_connection(nursery: trio.Nursery) -> None:
    client = Client(nursery)
    with trio.fail_after(5):
        for n in (10, 0, 70000, 1):
            status, _, body = await client.get(f"/bytes/{n}")
            assert (status, body) == (200, pattern_bytes(n))
        assert not client.done.is_set()
        await client.stream.send_eof()  # the client closes: so does the server
        await client.done.wait()
        assert await client.read_to_eof() == b""
    assert client.server.requests == 4


async def test_pipelined_requests_are_answered_in_order(nursery: trio.Nursery) -> None:
    client = Client(nursery)
    await client.send_raw(b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/5 HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
    with trio.fail_after(5):
        raw = await client.read_to_eof()
    first, second = raw.split(b"HTTP/1.1 200 OK")[1:]
    assert first.endswith(b"\r\n\r\n\x00\x01\x02")
    assert second.endswith(b"\r\n\r\n\x00\x01\x02\x03\x04")


async def test_connection_close_makes_the_server_close_first(nursery: trio.Nursery) -> None:
    client = Client(nursery)
    with trio.fail_after(5):
        status, headers, body = await client.get("/bytes/100", headers=[("Connection", "close")])
        await client.done.wait()  # closed without waiting for the client's FIN
        assert await client.read_to_eof() == b""
    assert (status, body) == (200, pattern_bytes(100))
    assert headers[b"connection"] == b"close"


async def test_http_1_0_gets_one_response_then_close(nursery: trio.Nursery) -> None:
    client = Client(nursery)
    await client.send_raw(b"GET /bytes/4 HTTP/1.0\r\n\r\n")
    with trio.fail_after(5):
        raw = await client.read_to_eof()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"\r\n\r\n\x00\x01\x02\x03")


async def test_half_closed_client_still_gets_its_response(nursery: trio.Nursery) -> None:
    client = Client(nursery)
    await client.send_raw(b"GET /bytes/6 HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.stream.send_eof()
    with trio.fail_after(5):
        raw = await client.read_to_eof()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"\x00\x01\x02\x03\x04\x05")


@pytest.mark.parametrize(
    ("garbage", "status"),
    [
        (b"this is not HTTP\r\n\r\n", b"400 Bad Request"),
        (b"GET / HTTP/1.1\r\n\r\n", b"400 Bad Request"),  # no Host
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n", b"400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000, b"431 Request Header Fields Too Large"),
    ],
    ids=["not-http", "no-host", "bad-length", "endless-header"],
)
async def test_a_request_h11_rejects_gets_4xx_and_close(
    nursery: trio.Nursery, garbage: bytes, status: bytes
) -> None:
    client = Client(nursery)
    await client.send_raw(garbage)
    with trio.fail_after(5):
        raw = await client.read_to_eof()  # the server closed after its answer
        await client.done.wait()
    assert raw.startswith(b"HTTP/1.1 " + status + b"\r\n")
    assert b"\r\nConnection: close\r\n" in raw
    assert client.server.errors == 0


async def test_a_client_that_closes_mid_request_is_just_dropped(nursery: trio.Nursery) -> None:
    client = Client(nursery)
    await client.send_raw(b"GET /bytes/6 HTTP/1.1\r\nHo")
    await client.stream.send_eof()
    with trio.fail_after(5):
        raw = await client.read_to_eof()
    assert raw.startswith(b"HTTP/1.1 400 ") or raw == b""


async def test_idle_keep_alive_connection_is_closed(nursery: trio.Nursery, autojump_clock: object) -> None:
    client = Client(nursery, HttpServer(idle_timeout=5))
    status, _, _ = await client.get("/bytes/1")
    start = trio.current_time()
    assert await client.read_to_eof() == b""
    assert status == 200
    assert trio.current_time() - start == pytest.approx(5)
