"""The echo and discard servers, and what every server shares, on in-memory streams."""

from __future__ import annotations

import hashlib
import logging

import pytest
import trio
import trio.testing

from minitcp.apps import AppServer, DiscardServer, EchoServer


async def read_to_eof(stream: trio.abc.ReceiveStream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


async def test_echo_sends_everything_back_then_closes_after_the_clients_eof(nursery: trio.Nursery) -> None:
    server = EchoServer()
    client, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(server._run, server_end)
    data = bytes(range(256)) * 1000
    with trio.fail_after(5):
        await client.send_all(data[:1000])
        assert await client.receive_some(1000) == data[:1000]  # byte for byte, before any EOF
        await client.send_all(data[1000:])
        await client.send_eof()
        assert await read_to_eof(client) == data[1000:]
        await trio.testing.wait_all_tasks_blocked()  # the handler's task has finished
    assert server.bytes_echoed == len(data)
    assert (server.connections, server.active, server.errors) == (1, 0, 0)


async def test_discard_counts_and_hashes_and_answers_nothing(nursery: trio.Nursery) -> None:
    server = DiscardServer(digest=True)
    data = bytes(range(256)) * 4000
    for _ in range(2):
        client, server_end = trio.testing.memory_stream_pair()
        nursery.start_soon(server._run, server_end)
        with trio.fail_after(5):
            await client.send_all(data)
            await client.send_eof()
            assert await read_to_eof(client) == b""
    with trio.fail_after(5):
        records = await server.wait_received(2)
    assert [r.nbytes for r in records] == [len(data), len(data)]
    assert records[0].sha256 == hashlib.sha256(data).hexdigest()
    assert server.bytes_discarded == 2 * len(data)


async def test_discard_without_digest_keeps_only_counts(nursery: trio.Nursery) -> None:
    server = DiscardServer()
    client, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(server._run, server_end)
    await client.send_all(b"x" * 10)
    await client.send_eof()
    with trio.fail_after(5):
        (record,) = await server.wait_received(1)
    assert (record.nbytes, record.sha256) == (10, None)


class Broken(AppServer):
    name = "broken"

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        raise RuntimeError("a bug in the handler")


class Reset(AppServer):
    name = "reset"

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        raise trio.BrokenResourceError("the peer reset the connection")


async def test_a_failing_handler_is_logged_counted_and_its_stream_closed(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    server = Broken()
    client, server_end = trio.testing.memory_stream_pair()
    with caplog.at_level(logging.ERROR, logger="minitcp.apps"), trio.fail_after(5):
        await server._run(server_end)  # does not raise: the other connections go on being served
        assert await read_to_eof(client) == b""
    assert server.errors == 1
    assert "broken server: handler failed" in caplog.text
    assert "a bug in the handler" in caplog.text


async def test_a_reset_connection_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    server = Reset()
    _client, server_end = trio.testing.memory_stream_pair()
    with caplog.at_level(logging.ERROR, logger="minitcp.apps"):
        await server._run(server_end)
    assert server.errors == 0
    assert caplog.text == ""
