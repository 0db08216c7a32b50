"""A burst of SYNs to a listener with room in its SYN queue, answered in C with request socks
(minitcp/host/cookie_batch.py, minitcp/tcp/request_synack.py, `mt_request_synack`): the same
batch read by the link (CookieReader) or handed whole to the host leaves the same SYN-ACK bytes,
the same requests (every field, the timer, the engine's table, the SYN queue's young and old),
the same counters; later the third ACK, the retransmitted SYN and the SYN-ACK timer find the
same requests and do the same. All in virtual time, through a socket pair standing for the
device."""

from __future__ import annotations

import dataclasses
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minitcp.bench.synfill import drain
from minitcp.host import cookie_batch as cb
from minitcp.host.host import Host
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.reqsk import RequestSock
from minitcp.tcp.seq import MASK
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, SYN, Segment, Segment6
from minitcp.wire.tcp import build_tcp6_packet, build_tcp_packet
from tests.stack.test_cookie_batch import _by_flow, _seqpacket
from tests.stack.test_host_cookie_fastpath import ME, ME6, _host, knob_sets, option_sets, syn_packets

try:
    from minitcp._native import lib

    from minitcp.link.cookie_rx import CookieReader
except ImportError:
    lib = None

pytestmark = pytest.mark.skipif(lib is None or not CookieReader.available,
                                reason="minitcp._native is not built, or MINITCP_PURE set")

PEER = ip_int("198.18.0.9")
PEER6 = 0x2001_0002 << 96 | 9
FILL_AT, BURST_AT, LATER = 1.0, 1.25, 1.5


def _filled(knobs: Knobs, options: dict[str, int], backlog: int, fill: int) -> Host:
    """A host listening on port 80 of both addresses, `fill` requests in each SYN queue (the
    usual path), its output cleared."""
    host = _host(dataclasses.replace(knobs))
    for addr in (ME, ME6):
        host.engine.listen(addr, 80, backlog).options.update(options)
    for sport in range(2000, 2000 + fill):
        host.receive(build_tcp_packet(Segment(PEER, ME, sport, 80, 5, 0, SYN, 64240, mss=1460)), FILL_AT)
        host.receive(build_tcp6_packet(Segment6(PEER6, ME6, sport, 80, 5, 0, SYN, 64240, mss=1460)), FILL_AT)
    host.transmit(FILL_AT)
    host.sent.clear()  # type: ignore[attr-defined]
    return host


def _batch(host: Host, packets: list[bytes], now: float, usual: bool = False) -> tuple[int, list[bytes]]:
    """`packets` read as one batch by a CookieReader in front of `host` (`usual`: read as they
    are, no table), the rest handed to it: how many the link answered, and every packet sent
    (the link's, then the host's)."""
    batch = cb.CookieBatch(host)
    table = None if usual else batch.table(now)
    ours, theirs = _seqpacket()
    with ours, theirs:
        for pkt in packets:
            theirs.send(pkt)
        reader = CookieReader(ours.fileno(), 256, 65535)
        if table is None:
            rest = [(ours.recv(65535), False) for _ in packets]
        else:
            rest, dropped = reader.read(batch, table, now)
            assert dropped == 0
        if rest:
            host.receive_batch(rest, now)
        host.transmit(now)
        assert reader.flush() == 0
        answered = drain(theirs)
    sent = answered + host.sent  # type: ignore[attr-defined]
    host.sent.clear()  # type: ignore[attr-defined]
    return reader.answered, sent


def _request(req: RequestSock) -> dict[str, Any]:
    """Everything a request holds but its engine and listener."""
    return {name: getattr(req, name) for name in RequestSock.__slots__ if name not in ("engine", "listener")}


def _state(host: Host) -> dict[str, Any]:
    eng = host.engine
    return {
        "counters": (dict(host.counters), dict(eng.counters)),
        "requests": {key: _request(req) for key, req in eng.requests.items()},
        "queues": [(sorted(lst.syn_queue), sorted(lst.aged), lst.young, len(lst.accept_queue))
                   for lst in eng.listeners.values()],
        "conns": {key: conn.state for key, conn in eng.conns.items()},
        "timers": (len(eng.timers), eng.poll_at()),
    }


def _third_ack(req: RequestSock) -> bytes:
    """The handshake's third segment for `req` (with timestamps when agreed)."""
    ts: dict[str, int] = {}
    if req.ts_ok:
        ts = dict(ts_val=((req.ts_recent or 0) + 1) & MASK,
                  ts_ecr=(int(BURST_AT * 1000) + req.ts_offset) & MASK)
    cls, build = (Segment6, build_tcp6_packet) if req.laddr > 0xFFFFFFFF else (Segment, build_tcp_packet)
    return build(cls(req.raddr, req.laddr, req.rport, req.lport, (req.irs + 1) & MASK, (req.iss + 1) & MASK,
                     ACK, 1000, **ts))  # type: ignore[arg-type]


@given(syns=st.lists(syn_packets(), min_size=1, max_size=24), again=st.lists(st.integers(0, 23), max_size=4),
       knob=knob_sets, options=option_sets, backlog=st.integers(3, 30), cookies=st.sampled_from([0, 1, 2]),
       fill=st.integers(0, 3))
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_requests_made_in_a_batch_are_the_usual_paths(syns: list[bytes], again: list[int],
                                                      knob: dict[str, Any], options: dict[str, int],
                                                      backlog: int, cookies: int, fill: int) -> None:
    """Any SYNs (any options, some with ACK, RST or FIN, some twice in the batch), to listeners
    whose queues fill up within the batch or not: byte-identical SYN-ACKs per flow, identical
    requests, queues, timers and counters; then each request's third ACK (half of them) and
    retransmitted SYN (the other half) and the SYN-ACK timer's first round do the same on both."""
    packets = syns + [syns[i] for i in again if i < len(syns)]
    knobs = Knobs(tcp_syncookies=cookies, **knob)
    with mock.patch.object(cb, "SYN_BURST", 2):  # the gate opens from 2 requests in a queue
        fast, slow = (_filled(knobs, options, backlog, fill) for _ in range(2))
        answered, fast_sent = _batch(fast, packets, BURST_AT)
        _, slow_sent = _batch(slow, packets, BURST_AT, usual=True)
    assert answered == 0 or fill >= 2 or cookies == 2
    assert _by_flow(fast_sent) == _by_flow(slow_sent)
    assert _state(fast) == _state(slow)
    follow = []
    for n, req in enumerate(sorted(slow.engine.requests.values(), key=lambda r: r.key)):
        if req.rport >= 2000 and req.raddr in (PEER, PEER6):
            continue  # the fill's
        follow.append(_third_ack(req) if n % 2 else next(p for p in packets if _flow_of(p) == req.key))
    for host in (fast, slow):
        host.receive_batch([(p, False) for p in follow], LATER)
        host.transmit(LATER)
    assert _by_flow(fast.sent) == _by_flow(slow.sent)  # type: ignore[attr-defined]
    assert _state(fast) == _state(slow)
    for host in (fast, slow):
        host.handle_timeout(BURST_AT + 3.5)
        host.transmit(BURST_AT + 3.5)
    assert _by_flow(fast.sent) == _by_flow(slow.sent)  # type: ignore[attr-defined]
    assert _state(fast) == _state(slow)


def _flow_of(pkt: bytes) -> int | None:
    return cb.flow_key(pkt)


@pytest.mark.parametrize("lately", [False, True], ids=["first-fill", "refill-after-cookies"])
def test_a_flood_s_first_syns_fill_the_queue_in_batches(lately: bool) -> None:
    """A burst of 40 SYNs to a listener of backlog 32 holding SYN_BURST requests: the batch path
    makes the 16 requests its queue has room for, then answers the other 24 with cookies, as the
    usual path does each SYN once the queue is full (tcp_conn_request; the flood's log line,
    tcp_syn_flood_action, with the first): the same SYN-ACKs byte for byte, the same state and
    counters. A retransmitted SYN of a batch-made request later gets its SYN-ACK again, as
    tcp_check_req answers it. The same when cookies were sent in the last second (a queue that
    a flood's pruning emptied in part, filling again)."""
    knobs = Knobs()
    fast, slow = (_filled(knobs, {}, 32, cb.SYN_BURST) for _ in range(2))
    if lately:
        for host in (fast, slow):
            host.engine.last_cookie = FILL_AT
    syns = [build_tcp_packet(Segment(ip_int("198.18.1.0") + k, ME, 1024 + k, 80, k * 7919, 0, SYN, 64240,
                                     mss=1460, wscale=7, sack_permitted=True, ts_val=k + 1, ts_ecr=0))
            for k in range(40)]
    answered, fast_sent = _batch(fast, syns, BURST_AT)
    _, slow_sent = _batch(slow, syns, BURST_AT, usual=True)
    assert answered == 40
    assert fast.engine.counters["SyncookiesSent"] == 40 - (32 - cb.SYN_BURST)
    assert fast.engine.listeners[(ME, 80)].synflood_warned
    assert _by_flow(fast_sent) == _by_flow(slow_sent) and len(fast_sent) == 40
    assert _state(fast) == _state(slow)
    listener = fast.engine.listeners[(ME, 80)]
    assert len(listener.syn_queue) == 32 and listener.young == 32
    first = fast.engine.requests[cb.flow_key(syns[0])]  # type: ignore[index]
    assert first.t_rto == BURST_AT + 1.0 and first.heap_at == first.t_rto
    for host in (fast, slow):
        host.receive(syns[0], LATER)
        host.transmit(LATER)
    assert len(fast.sent) == 1 and fast.sent == slow.sent  # type: ignore[attr-defined]
    assert fast.engine.counters["RetransSegs"] == 1
    assert _state(fast) == _state(slow)


def test_no_requests_in_batches_below_the_burst_nor_while_isns_are_pinned() -> None:
    """Below SYN_BURST requests in its queue a listener gets no row (a quiet host's reads stay
    the usual ones); nor with an ISN pinned (a lab's), nor while the device drops every packet."""
    host = _filled(Knobs(), {}, 64, cb.SYN_BURST - 1)
    batch = cb.CookieBatch(host)
    assert batch.table(BURST_AT) is None
    host = _filled(Knobs(), {}, 64, cb.SYN_BURST)
    batch = cb.CookieBatch(host)
    assert batch.table(BURST_AT) is not None
    assert [(port, v6, state) for port, v6, _, state in batch.rows(BURST_AT)] == \
        [(80, False, (64 - cb.SYN_BURST, True)), (80, True, (64 - cb.SYN_BURST, True))]
    host.engine.isn.pin(ME, 80, PEER, 9, 1)
    assert batch.table(BURST_AT) is None
    host.engine.isn.isn(ME, 80, PEER, 9, 0.0)  # the pin used
    host.engine.xmit_drop = True
    assert batch.table(BURST_AT) is None
