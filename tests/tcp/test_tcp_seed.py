# ruff: noqa: RUF002, RUF003  (the seed questions are quoted in Chinese, full-width punctuation and all)
"""One test per question of the teaching text in ../shared/seed (the four-way close, the
loss of each teardown segment, TIME_WAIT, CLOSE_WAIT, close vs shutdown, delayed ACK).

Each test runs two engines joined by a simulated wire (EnginePair: a is the client
198.18.0.1, b the server 198.18.0.2, 0.5 ms one way) and loses exactly the segment
the question is about. Wire logs are (time since the first close, sender, flags,
seq, ack, payload length, delivered) with seq/ack relative to each side's ISN. The
handshake gives an RTT of about 1 ms, so the RTO is 201 ms (Linux: srtt + 200 ms).
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

from minitcp.tcp.connection import SHUT_WR
from minitcp.tcp.pair import EnginePair
from minitcp.tcp.states import State
from minitcp.trace.events import DropEvent
from minitcp.trace.recorder import Recorder
from minitcp.wire.segment import ACK, FIN, Segment

from ..helpers.pairs import isns, pair_connect, wire_log
from ..helpers.recorded import events_of, state_changes
from .peer import knobs

T0 = 1.0  # the application closes (or acts) at this time
RTO = 0.201


class Lose:
    """A fault hook that loses the first `count` segments matching `pred(sender, seg)`."""

    def __init__(self, pred: Callable[[str, Segment], bool], count: int = 1) -> None:
        self.pred = pred
        self.left = count

    def __call__(self, sender: str, seg: Segment, now: float) -> list[float]:
        if self.left and now >= T0 and self.pred(sender, seg):
            self.left -= 1
            return []
        return [0.0]


def is_fin_from(who: str) -> Callable[[str, Segment], bool]:
    return lambda sender, seg: sender == who and bool(seg.flags & FIN)


def is_pure_ack_from(who: str) -> Callable[[str, Segment], bool]:
    return lambda sender, seg: sender == who and seg.flags == ACK and not seg.payload


def opened(fault: object = None, **kw: object) -> tuple[EnginePair, object, object]:
    p = EnginePair(fault=fault, **kw)  # type: ignore[arg-type]
    client, server = pair_connect(p)
    p.run(until=T0)
    assert client.recovery.rto == pytest.approx(RTO) and server.recovery.rto == pytest.approx(RTO)
    return p, client, server


def log(p: EnginePair, client: object, server: object, since: float = T0) -> list[tuple]:
    return [w for w in wire_log(p.wire, isns(client, server), T0) if w[0] >= since - T0]


# -------------------------------------------- TCP 四次挥手过程是怎样的？


def test_four_way_close_client_first() -> None:
    """TCP 四次挥手过程是怎样的？/ 为什么挥手需要四次？

    The client closes: FIN (FIN_WAIT_1); the server's kernel ACKs it by itself
    (CLOSE_WAIT; Linux holds that ACK hoping the application closes too, but on a
    connection that has received no data only until the next tick, 4 ms at HZ=250);
    the application closes a second later: FIN (LAST_ACK); the client ACKs it
    and waits in TIME_WAIT for 60 s. Four segments, because the server's ACK
    and FIN are sent at different moments, by the kernel and by the application.
    """
    p, client, server = opened()
    client.close(p.now)
    p.run(until=T0 + 0.5)
    assert (client.state, server.state) == (State.FIN_WAIT_2, State.CLOSE_WAIT)
    server.close(p.now)
    p.run(until=T0 + 1.5)
    assert log(p, client, server) == [
        (0.0, "a", "F.", 1, 1, 0, True),
        (0.0045, "b", ".", 1, 2, 0, True),  # delayed ACK: ato is 0 (no data came), one tick
        (0.5, "b", "F.", 1, 2, 0, True),
        (0.5005, "a", ".", 2, 2, 0, True),
    ]
    assert (client.state, server.state) == (State.TIME_WAIT, State.CLOSED)
    p.run(until=T0 + 0.5005 + 59.9)
    assert p.a.timewait_entries()
    p.run(until=T0 + 0.5005 + 60.0)
    assert not p.a.timewait_entries()


def test_four_way_close_server_first() -> None:
    """TCP 四次挥手过程是怎样的？ — the server may close first as well.

    Whoever closes first is the active closer and gets TIME_WAIT: here the
    server; the client goes through CLOSE_WAIT and LAST_ACK and keeps no state.
    """
    p, client, server = opened()
    server.close(p.now)
    p.run(until=T0 + 0.5)
    assert client.recv(10, p.now) == b""  # the client application reads end-of-stream
    client.close(p.now)
    p.run(until=T0 + 1.0)
    assert log(p, client, server) == [
        (0.0, "b", "F.", 1, 1, 0, True),
        (0.0045, "a", ".", 1, 2, 0, True),  # no data came: ACKed at the next tick
        (0.5, "a", "F.", 1, 2, 0, True),
        (0.5005, "b", ".", 2, 2, 0, True),
    ]
    assert (client.state, server.state) == (State.CLOSED, State.TIME_WAIT)
    assert len(p.b.timewait_entries()) == 1 and not p.a.timewait_entries()


def test_simultaneous_close_goes_through_closing() -> None:
    """TCP 四次挥手过程是怎样的？ — both close at once (RFC 9293 figure 13).

    The FINs cross; each side gets a FIN while in FIN_WAIT_1 and moves to
    CLOSING, ACKs it at once, then gets the ACK of its own FIN: both end in
    TIME_WAIT. Still four segments, but two pairs crossing.
    """
    p, client, server = opened()
    client.close(p.now)
    server.close(p.now)
    p.run(until=T0 + 0.5)
    rec = sorted(log(p, client, server))
    assert rec == sorted([
        (0.0, "a", "F.", 1, 1, 0, True),
        (0.0, "b", "F.", 1, 1, 0, True),
        (0.0005, "a", ".", 2, 2, 0, True),
        (0.0005, "b", ".", 2, 2, 0, True),
    ])
    assert (client.state, server.state) == (State.TIME_WAIT, State.TIME_WAIT)
    assert len(p.a.timewait_entries()) == len(p.b.timewait_entries()) == 1


# -------------------------------------------- 第一次挥手丢失了，会发生什么？


def test_first_fin_lost_is_retransmitted_after_the_rto() -> None:
    """第一次挥手丢失了，会发生什么？

    The client's FIN is lost. No ACK comes, so the retransmission timer fires
    after the RTO (201 ms here) and the FIN goes again; the client stays in
    FIN_WAIT_1 meanwhile. How often it may try is tcp_orphan_retries.
    """
    p, client, server = opened(Lose(is_fin_from("a")))
    client.close(p.now)
    p.run(until=T0 + 0.1)
    assert (client.state, server.state) == (State.FIN_WAIT_1, State.ESTABLISHED)
    p.run(until=T0 + 1.0)
    assert log(p, client, server) == [
        (0.0, "a", "F.", 1, 1, 0, False),
        (RTO, "a", "F.", 1, 1, 0, True),
        (round(RTO + 0.0045, 6), "b", ".", 1, 2, 0, True),
    ]
    assert (client.state, server.state) == (State.FIN_WAIT_2, State.CLOSE_WAIT)
    assert p.a.counters["RetransSegs"] == 1


def test_every_fin_lost_client_gives_up_after_tcp_orphan_retries() -> None:
    """第一次挥手丢失了，会发生什么？ — 重发次数由 tcp_orphan_retries 参数控制.

    Every FIN is lost. tcp_orphan_retries = 0 means 8 in Linux: the FIN goes
    1 + 1 + 8 times: at 0, its loss probe at RTO (a lone FIN is probed when its RTO
    would fire: TCPLossProbes), then the RTO's retransmissions at 2 RTO, 4 RTO ...
    256 RTO, each wait twice the last; after 512 RTO (about 103 s) the client drops
    the connection silently (no RST). The server never heard anything and is still
    ESTABLISHED.
    """
    p, client, server = opened(Lose(is_fin_from("a"), count=100))
    client.close(p.now)
    p.run(until=T0 + 200)
    fins = [w for w in log(p, client, server) if w[1] == "a"]
    assert [w[0] for w in fins] == pytest.approx([0.0] + [RTO * 2 ** k for k in range(9)])
    assert p.a.counters["TCPLossProbes"] == 1
    assert all(w[2] == "F." and not w[6] for w in fins)
    assert client.state == State.CLOSED and server.state == State.ESTABLISHED
    assert p.a.counters["OutRsts"] == 0 and p.a.counters["TCPAbortOnTimeout"] == 1
    assert not p.a.timewait_entries()


# -------------------------------------------- 第二次挥手丢失了，会发生什么？


def test_ack_of_the_first_fin_lost() -> None:
    """第二次挥手丢失了，会发生什么？ — ACK 报文是不会重传的.

    The server's ACK is lost; the server does not resend a bare ACK. The client,
    still in FIN_WAIT_1, retransmits its FIN after the RTO; the server, in
    CLOSE_WAIT, sees a FIN it already has and ACKs it again, at once.
    """
    p, client, server = opened(Lose(is_pure_ack_from("b")))
    client.close(p.now)
    p.run(until=T0 + 1.0)
    assert log(p, client, server) == [
        (0.0, "a", "F.", 1, 1, 0, True),
        (0.0045, "b", ".", 1, 2, 0, False),
        (RTO, "a", "F.", 1, 1, 0, True),
        (round(RTO + 0.0005, 6), "b", ".", 1, 2, 0, True),  # a duplicate: ACKed without delay
    ]
    assert (client.state, server.state) == (State.FIN_WAIT_2, State.CLOSE_WAIT)
    assert p.b.counters["RetransSegs"] == 0


# -------------------------------------------- 第三次挥手丢失了，会发生什么？


def test_server_fin_lost_is_retransmitted_from_last_ack() -> None:
    """第三次挥手丢失了，会发生什么？

    The server application closes (CLOSE_WAIT -> LAST_ACK); its FIN is lost.
    The server retransmits the FIN after its RTO, the client (FIN_WAIT_2) ACKs
    it and enters TIME_WAIT.
    """
    p, client, server = opened(Lose(is_fin_from("b")))
    client.close(p.now)
    p.run(until=T0 + 0.5)
    server.close(p.now)
    p.run(until=T0 + 1.5)
    assert log(p, client, server, since=T0 + 0.5) == [
        (0.5, "b", "F.", 1, 2, 0, False),
        (round(0.5 + RTO, 6), "b", "F.", 1, 2, 0, True),
        (round(0.5 + RTO + 0.0005, 6), "a", ".", 2, 2, 0, True),
    ]
    assert (client.state, server.state) == (State.TIME_WAIT, State.CLOSED)


def test_every_server_fin_lost_both_sides_give_up() -> None:
    """第三次挥手丢失了，会发生什么？ — 重发次数仍然由 tcp_orphan_retries 参数控制.

    Every server FIN is lost. The server gives up after its loss probe and 8
    retransmissions (about 103 s), silently. The client, orphaned in FIN_WAIT_2, does not wait
    that long: tcp_fin_timeout (60 s) ends it first. Nobody reaches TIME_WAIT.
    """
    p, client, server = opened(Lose(is_fin_from("b"), count=100))
    rec_a = Recorder()
    p.a.observer = rec_a
    client.close(p.now)
    p.run(until=T0 + 0.5)
    server.close(p.now)
    p.run(until=T0 + 300)
    fins = [w for w in log(p, client, server, since=T0 + 0.5) if w[1] == "b"]
    assert len(fins) == 10
    assert client.state == server.state == State.CLOSED
    (fin2_end,) = [t for old, new, t in state_changes(rec_a) if new == State.CLOSED]
    assert fin2_end == pytest.approx(T0 + 0.0045 + 0.0005 + 60)  # 60 s after the ACK of its FIN
    assert not p.a.timewait_entries() and not p.b.timewait_entries()
    assert p.a.counters["OutRsts"] == p.b.counters["OutRsts"] == 0


# -------------------------------------------- 第四次挥手丢失了，会发生什么？


def test_last_ack_lost_time_wait_acks_the_retransmitted_fin() -> None:
    """第四次挥手丢失了，会发生什么？

    The client's last ACK is lost. The server, in LAST_ACK, retransmits its FIN
    after the RTO; the client, in TIME_WAIT, answers with the ACK again and
    starts its 60 s over from that moment. Then the server closes.
    """
    p, client, server = opened(Lose(lambda s, seg: s == "a" and seg.flags == ACK
                                    and server.state == State.LAST_ACK))
    client.close(p.now)
    p.run(until=T0 + 0.5)
    server.close(p.now)
    p.run(until=T0 + 1.5)
    assert log(p, client, server, since=T0 + 0.5) == [
        (0.5, "b", "F.", 1, 2, 0, True),
        (0.5005, "a", ".", 2, 2, 0, False),
        (round(0.5 + RTO, 6), "b", "F.", 1, 2, 0, True),
        (round(0.5 + RTO + 0.0005, 6), "a", ".", 2, 2, 0, True),
    ]
    assert (client.state, server.state) == (State.TIME_WAIT, State.CLOSED)
    (tw,) = p.a.timewait_entries()
    assert tw.expires == pytest.approx(T0 + 0.5 + RTO + 0.0005 + 60)


# -------------------------------------------- 为什么需要 TIME_WAIT 状态？


def test_why_time_wait_an_old_duplicate_is_not_accepted_by_a_new_incarnation() -> None:
    """为什么需要 TIME-WAIT 状态？ — 防止历史连接中的数据，被后面相同四元组的连接错误的接收.

    The server's data segment "OLD-DATA" is duplicated by the network and the
    copy is held up 5 s. The server closes first and sits in TIME_WAIT; 2 s
    later the same client port connects again, and Linux lets the new SYN take
    the pair over only because its sequence number is above the old
    connection's, giving the new incarnation an ISN 65537 beyond anything the
    old one sent. When the stale copy arrives, it is outside the new receive
    window: dropped and answered with an ACK, never delivered. (Timestamps are
    off here to show the sequence-number rule alone; with them PAWS also rejects it.)
    """
    def dup_old(sender: str, seg: Segment, now: float) -> list[float]:
        return [0.0, 5.0] if bytes(seg.payload) == b"OLD-DATA" else [0.0]

    no_ts = knobs(tcp_timestamps=0)
    p = EnginePair(no_ts, knobs(tcp_timestamps=0), fault=dup_old)
    rec_a = Recorder()
    p.a.observer = rec_a
    client, server = pair_connect(p)
    p.run(until=T0)
    server.send(b"OLD-DATA", p.now)
    p.run(until=T0 + 0.1)
    assert client.recv(100, p.now) == b"OLD-DATA"
    server.close(p.now)
    p.run(until=T0 + 0.2)
    client.close(p.now)
    p.run(until=T0 + 0.3)
    assert server.state == State.TIME_WAIT and client.state == State.CLOSED
    old_server_iss = server.iss

    p.run(until=T0 + 2.0)
    client2, server2 = pair_connect(p)  # same four-tuple, new incarnation
    assert (server2.iss - old_server_iss) & 0xFFFFFFFF == 2 + 8 + 65537  # SYN + 8 bytes + FIN, +65537
    server2.send(b"new data", p.now)
    p.run(until=T0 + 10.0)
    stale = [e for e in p.wire if bytes(e.seg.payload) == b"OLD-DATA"]
    assert len(stale) == 1  # one transmission, delivered twice: at ~1 s and at ~6 s
    assert client2.recv(100, p.now) == b"new data"  # and nothing else
    assert ("outside the receive window", T0 + 5.0005) in [
        (e.reason, round(e.time, 6)) for e in events_of(rec_a, DropEvent, client2)]


def test_why_time_wait_it_answers_the_fin_whose_ack_was_lost() -> None:
    """为什么需要 TIME-WAIT 状态？ — 保证「被动关闭连接」的一方，能被正确的关闭.

    Without TIME_WAIT (here: tcp_max_tw_buckets = 0, so the client keeps no
    entry) a lost last ACK makes the server's retransmitted FIN find nothing:
    the client's stack answers RST, and the server ends with a reset instead of
    an orderly close. (With TIME_WAIT it is re-ACKed: see the last-ACK-lost test.)
    """
    p, client, server = opened(Lose(lambda s, seg: s == "a" and seg.flags == ACK
                                    and server.state == State.LAST_ACK), knobs_a=knobs(tcp_max_tw_buckets=0))
    rec_b = Recorder()
    p.b.observer = rec_b
    client.close(p.now)
    p.run(until=T0 + 0.5)
    server.close(p.now)
    p.run(until=T0 + 1.5)
    assert log(p, client, server, since=T0 + 0.5) == [
        (0.5, "b", "F.", 1, 2, 0, True),
        (0.5005, "a", ".", 2, 2, 0, False),
        (round(0.5 + RTO, 6), "b", "F.", 1, 2, 0, True),
        (round(0.5 + RTO + 0.0005, 6), "a", "R", 2, None, 0, True),
    ]
    assert p.a.counters["TCPTimeWaitOverflow"] == 1
    assert server.state == State.CLOSED
    assert "connection reset by peer" in [e.reason for e in events_of(rec_b, DropEvent, server)]


# -------------------------------------------- TIME_WAIT 过多有什么危害？


def test_too_many_time_wait_the_client_holds_its_ports() -> None:
    """TIME_WAIT 过多有什么危害？ — 如果客户端的 TIME_WAIT 状态过多，占满了所有端口资源...

    A client that closes first keeps every four-tuple it used in TIME_WAIT for
    60 s: (client address, client port, server address, 80) stays in use, so
    the same port cannot connect to the same server again meanwhile. The server,
    the passive closer, keeps nothing. tcp_max_tw_buckets caps the table; past
    it, connections close without TIME_WAIT (TCPTimeWaitOverflow).
    """
    p = EnginePair(knobs_a=knobs(tcp_max_tw_buckets=8))
    ports = list(range(40001, 40011))
    for port in ports:
        client, server = pair_connect(p, lport=port)
        client.close(p.now)
        p.run_for(0.1)
        server.close(p.now)
        p.run_for(0.1)
    in_use = [p.a.in_use(p.addr_a, port, p.addr_b, 80) for port in ports]
    assert in_use == [True] * 8 + [False] * 2
    assert len(p.a.timewait_entries()) == 8 and p.a.counters["TCPTimeWaitOverflow"] == 2
    assert not p.b.timewait_entries() and not p.b.conns
    p.run(until=p.now + 60)
    assert not any(p.a.in_use(p.addr_a, port, p.addr_b, 80) for port in ports)
    assert p.a.counters["TW"] == 8


# -------------------------------------------- 服务器出现大量 CLOSE_WAIT 状态的原因有哪些？


def test_close_wait_lasts_as_long_as_the_application_does_not_close() -> None:
    """服务器出现大量 CLOSE_WAIT 状态的原因有哪些？ — 服务端的程序没有调用 close 函数关闭连接.

    The client closes; the server's kernel ACKs, the server application never
    calls close(). An hour later the server is still in CLOSE_WAIT: the kernel
    has no right to close for the application. The client, orphaned in
    FIN_WAIT_2, gave up after tcp_fin_timeout (60 s); when the server finally
    closes, its FIN finds nothing and is answered with RST.
    """
    p, client, server = opened()
    client.close(p.now)
    p.run(until=T0 + 3600)
    assert server.state == State.CLOSE_WAIT
    assert client.state == State.CLOSED
    assert server.info()["state"] == "CLOSE-WAIT"
    server.close(p.now)
    p.run(until=T0 + 3601)
    assert [w[2] for w in log(p, client, server, since=T0 + 3600)] == ["F.", "R"]
    assert server.state == State.CLOSED


def test_close_wait_and_fin_wait_2_both_last_after_shutdown() -> None:
    """服务器出现大量 CLOSE_WAIT 状态的原因有哪些？ — with shutdown() instead of close().

    A client that only did shutdown(SHUT_WR) is not orphaned: its FIN_WAIT_2
    has no timeout, so both sides wait as long as the applications do.
    """
    p, client, server = opened()
    client.shutdown(SHUT_WR, p.now)
    p.run(until=T0 + 3600)
    assert (client.state, server.state) == (State.FIN_WAIT_2, State.CLOSE_WAIT)
    assert client.timers() == [] and server.timers() == []


# -------------------------------------------- 关闭 socket 的方法: close vs shutdown


def test_shutdown_sends_fin_at_once_and_still_receives() -> None:
    """关闭socket的方法 — shutdown 函数，可以指定 socket 只关闭发送方向而不关闭读取方向.

    shutdown(SHUT_WR): the FIN goes at once; the client cannot send any more
    (EPIPE) but still receives what the server sends afterwards, and then the
    server's FIN (end of stream).
    """
    p, client, server = opened()
    client.shutdown(SHUT_WR, p.now)
    p.run(until=T0 + 0.1)
    assert log(p, client, server)[0] == (0.0, "a", "F.", 1, 1, 0, True)
    with pytest.raises(OSError) as e:
        client.send(b"more", p.now)
    assert e.value.errno == errno.EPIPE
    server.send(b"here is the rest", p.now)
    p.run(until=T0 + 0.2)
    assert client.recv(100, p.now) == b"here is the rest"
    server.close(p.now)
    p.run(until=T0 + 0.3)
    assert client.recv(100, p.now) == b""
    assert client.state == State.TIME_WAIT


def test_close_with_unread_data_is_the_brutal_way() -> None:
    """关闭socket的方法 — 调用 close 是粗暴的关闭: with unread data, close() sends RST.

    The server sent data the client never read; the client's close() throws it
    away and resets the connection (RFC 2525 section 2.17, TCPAbortOnClose);
    the server's next read reports ECONNRESET.
    """
    p, client, server = opened()
    server.send(b"you will never read this", p.now)
    p.run(until=T0 + 0.1)
    client.close(p.now)
    p.run(until=T0 + 0.2)
    assert [w[2] for w in log(p, client, server, since=T0 + 0.05)] == ["R."]
    assert p.a.counters["TCPAbortOnClose"] == 1
    with pytest.raises(OSError) as e:
        server.recv(10, p.now)
    assert e.value.errno == errno.ECONNRESET
    assert client.state == server.state == State.CLOSED


def test_data_after_close_gets_rst() -> None:
    """关闭socket的方法 — 如果客户端是用 close 函数来关闭连接...收到了服务端发送的数据...会回 RST 报文.

    The client closes (FIN, FIN_WAIT_2). The server still sends data: the
    client's kernel has nobody to give it to, answers RST and frees the
    connection (TCPAbortOnData). The server, in CLOSE_WAIT, gets EPIPE on its
    next send (Linux tcp_reset reports EPIPE in CLOSE_WAIT, ECONNRESET elsewhere).
    """
    p, client, server = opened()
    client.close(p.now)
    p.run(until=T0 + 0.5)
    assert client.state == State.FIN_WAIT_2
    server.send(b"reply nobody reads", p.now)
    p.run(until=T0 + 0.6)
    assert [w[1:3] for w in log(p, client, server, since=T0 + 0.5)] == [("b", "P."), ("a", "R")]
    assert p.a.counters["TCPAbortOnData"] == 1
    assert client.state == server.state == State.CLOSED
    with pytest.raises(OSError) as e:
        server.send(b"again", p.now)
    assert e.value.errno == errno.EPIPE


# -------------------------------------------- 什么是 TCP 延迟确认机制？


def test_delayed_ack_rides_on_the_response_or_waits_40_ms() -> None:
    """什么是 TCP 延迟确认机制？

    At the start (quick-ACK mode) a request is ACKed at once. Once the server
    has answered quickly (an interactive flow, "ping-pong" mode), the ACK of
    the next request waits: the response sent within 40 ms carries it (当有响应
    数据要发送时，ACK 会随着响应数据一起立刻发送); with no response, the ACK
    goes alone 40 ms later (没有响应数据要发送时，ACK 将会延迟一段时间).
    """
    p, client, server = opened()
    client.send(b"GET /1", p.now)
    p.run(until=T0 + 0.01)
    assert server.recv(100, p.now) == b"GET /1"
    server.send(b"200 /1", p.now)
    p.run(until=T0 + 0.1)
    client.recv(100, p.now)
    client.send(b"GET /2", p.now)
    p.run(until=T0 + 0.11)
    server.recv(100, p.now)
    server.send(b"200 /2", p.now)
    p.run(until=T0 + 0.2)
    client.recv(100, p.now)
    client.send(b"GET /3", p.now)  # no response this time
    p.run(until=T0 + 0.5)
    assert [(w[0], w[1], w[2], w[5]) for w in log(p, client, server)] == [
        (0.0, "a", "P.", 6),
        (0.0005, "b", ".", 0),  # quick-ACK at connection start
        (0.01, "b", "P.", 6),
        (0.0105, "a", ".", 0),
        (0.1, "a", "P.", 6),
        (0.11, "b", "P.", 6),  # the response carries the ACK: no bare ACK before it
        (0.1105, "a", ".", 0),
        (0.2, "a", "P.", 6),
        (0.2405, "b", ".", 0),  # nothing to carry it: the delayed ACK, 40 ms
    ]
    assert p.b.counters["DelayedACKs"] == 1


def test_three_segment_close_when_the_server_closes_within_the_delay() -> None:
    """...因为 TCP 延迟确认机制是默认开启的，所以导致我们抓包时，看见三次挥手的次数比四次挥手还多.

    The client sent a request and read the answer, so the server has received data: its
    ACK timeout (ato) is 40 ms (Linux tcp_event_data_recv). The client's FIN is then held
    that long, and the server application closes 10 ms after it arrived: the ACK rides on
    the server's FIN, and the capture shows three segments: FIN, FIN+ACK, ACK.
    """
    p, client, server = opened()
    client.send(b"GET /", p.now)
    p.run(until=T0 + 0.01)
    assert server.recv(100, p.now) == b"GET /"
    server.send(b"200 /", p.now)
    p.run(until=T0 + 0.1)
    assert client.recv(100, p.now) == b"200 /"
    client.close(p.now)
    p.run(until=T0 + 0.1105)
    assert server.state == State.CLOSE_WAIT
    server.close(p.now)
    p.run(until=T0 + 1.0)
    assert log(p, client, server, since=T0 + 0.05) == [
        (0.1, "a", "F.", 6, 6, 0, True),
        (0.1105, "b", "F.", 6, 7, 0, True),
        (0.111, "a", ".", 7, 7, 0, True),
    ]
    assert (client.state, server.state) == (State.TIME_WAIT, State.CLOSED)
    assert p.b.counters["DelayedACKs"] == 0


def test_fin_on_a_connection_without_data_is_acked_within_a_tick() -> None:
    """The same close on a connection that has received no data: the server's ato is still 0,
    so Linux's tcp_send_delayed_ack times the ACK for `jiffies + 0` and it leaves at the next
    tick (4 ms at HZ=250). An application closing 10 ms later is too late to carry it: four
    segments, and one delayed-ACK timer fired."""
    p, client, server = opened()
    client.close(p.now)
    p.run(until=T0 + 0.0105)
    server.close(p.now)
    p.run(until=T0 + 1.0)
    assert log(p, client, server) == [
        (0.0, "a", "F.", 1, 1, 0, True),
        (0.0045, "b", ".", 1, 2, 0, True),
        (0.0105, "b", "F.", 1, 2, 0, True),
        (0.011, "a", ".", 2, 2, 0, True),
    ]
    assert p.b.counters["DelayedACKs"] == 1
