"""A write queued in one run and pushed once (tcp/sendbatch.py) sends what the skb-by-skb write
sends (Linux tcp_sendmsg_locked's tcp_push_one per skb): the same packets at the same times and
the same skbs, marks, timers, windows and chronograph after every write; and it costs one push
where the skb-by-skb write costs one per skb."""

from __future__ import annotations

import random
from typing import Any

import pytest

from minitcp.tcp import output, sendbatch
from minitcp.tcp.connection import Connection
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.pair import EnginePair
from minitcp.wire import tso
from minitcp.wire.segment import Segment

BLOCK = bytes(range(256)) * 4096  # 1 MiB, as the HTTP server's /bytes/N writes


def _state(conn: Connection, n: int, now: float) -> tuple[Any, ...]:
    """What a write may change: what it took, the skbs and PSH marks, the timers, the windows,
    what cwnd_validate keeps and the chronograph."""
    cc = conn.recovery.cc
    log = conn.sendlog
    marks = conn.pushq
    return (n, now, conn.snd_nxt, conn.snd_sml, conn.send_queued,
            [tuple(skb) for skb in marks.skbs] if marks else None, marks.pushed_seq if marks else None,
            conn.t_rto, conn.t_persist, conn.recovery.pending, cc.cwnd, cc.ssthresh, cc.cwnd_used,
            cc.cwnd_stamp, cc.is_cwnd_limited, cc.max_packets_out, cc.cwnd_usage_seq,
            (log.kind, log.since, tuple(log.stats), log.nospace) if log else None)


def _connected(mtu: int, tso_on: bool, latency: float, warm: int,
               rmem: int = 8 << 20) -> tuple[EnginePair, Connection, Connection]:
    """A pair at `mtu` (a with TSO or not) and a connection from a to b; `warm`: a's initial
    window (0: Linux's) and b's initial receive buffer `rmem`, the windows wide at once."""
    sender, receiver = Knobs(), Knobs()
    if warm:
        sender.set("tcp_init_cwnd", warm)
        receiver.set("tcp_rmem", (4096, rmem, rmem))
    p = EnginePair(sender, receiver, latency=latency, mtu=mtu)
    if tso_on:
        p.a.tso_max = tso.TSO_MAX
    listener = p.b.listen(p.addr_b, 80, 8)
    c = p.a.connect(p.addr_a, 40000, p.addr_b, 80, 0.0)
    p.run(until=0.5)
    s = listener.accept_queue.popleft()
    c.send(BLOCK[:100_000], p.now)
    while c.send_queued and p.step():
        while s.recv(1 << 22, p.now):
            pass
    return p, c, s


def _transfer(seed: int, mtu: int, tso_on: bool, latency: float, warm: int, rmem: int = 8 << 20,
              slow: bool = False, **opts: int) -> tuple[list[Any], list[Any], dict[str, int]]:
    """A seeded bulk transfer (see _connected; `slow`: a reader that reads at every third
    step; `opts`: the writer's socket options): the wire, the state after each write, a's
    counters."""
    rnd = random.Random(seed)
    drops = set(rnd.sample(range(5, 300), 3)) if rnd.random() < 0.3 else set()
    count = [0]

    def fault(name: str, seg: Segment, now: float) -> list[float]:
        if name == "a" and seg.payload:
            count[0] += 1
            if count[0] in drops:
                return []
        return [0.0]

    p, c, s = _connected(mtu, tso_on, latency, warm, rmem)
    p.fault = fault
    for name, value in opts.items():
        c.apply_option(name, value, p.now)
    total = 3_000_000
    sizes = [rnd.choice([1 << 20, 100_000, 70_000, 3000]) for _ in range(64)]
    woken = rnd.random() < 0.5  # a writer that waits for POLLOUT (the bench's HTTP server)
    states = []
    sent = got = steps = 0
    while got < total and steps < 20_000:
        while sent < total and (c.writable or not woken):
            size = min(sizes[steps % len(sizes)], total - sent)
            n = c.send(BLOCK[:size], p.now, more=rnd.random() < 0.1)
            states.append(_state(c, n, p.now))
            if not n:
                break
            sent += n
        if not slow or steps % 3 == 0:
            while data := s.recv(1 << 22, p.now):
                got += len(data)
        if not p.step():
            break
        steps += 1
    wire = [(e.time, e.sender, e.seg.seq, len(e.seg.payload), e.seg.flags, e.delivered) for e in p.wire]
    return wire, states, dict(p.a.counters)


# _transfer's arguments: the bench's rows; a window of 1 MB (PSH forced within a write); a
# reader that falls behind (the window shut, with data waiting); packets smaller than an skb (a
# far peer's pacing rate) and a send buffer that fills within a write; cwnd the limit; slow
# start; Nagle's and the cork's cases; the mark that leaves the write skb by skb.
CASES: list[dict[str, Any]] = [
    dict(mtu=65000, tso_on=False, latency=0.0002, warm=300),
    dict(mtu=1500, tso_on=True, latency=0.0002, warm=300),
    dict(mtu=65000, tso_on=False, latency=0.0002, warm=300, rmem=1 << 20),
    dict(mtu=65000, tso_on=False, latency=0.0002, warm=300, rmem=1 << 20, slow=True),
    dict(mtu=1500, tso_on=True, latency=0.0002, warm=300, rmem=1 << 20, slow=True),
    dict(mtu=1500, tso_on=True, latency=0.05, warm=1000, sndbuf=300000),
    dict(mtu=1500, tso_on=False, latency=0.005, warm=300),
    dict(mtu=65000, tso_on=False, latency=0.005, warm=300, sndbuf=300000),
    dict(mtu=9000, tso_on=True, latency=0.0002, warm=0),
    dict(mtu=600, tso_on=False, latency=0.005, warm=300, sndbuf=20000),
    dict(mtu=1500, tso_on=True, latency=0.0002, warm=300, nodelay=1),
    dict(mtu=9000, tso_on=False, latency=0.005, warm=300, cork=1),
    dict(mtu=1500, tso_on=True, latency=0.0002, warm=300, notsent_lowat=100000),
]


def test_runs_send_what_the_skb_by_skb_write_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = {"queued only": 0, "sent whole": 0}
    queued_only, sent_whole = sendbatch._queued_only, sendbatch._sent_whole

    def counted(name: str, f: Any) -> Any:
        def g(*args: Any) -> int:
            n = f(*args)
            taken[name] += n > 0
            return n
        return g

    for seed, case in enumerate(CASES):
        monkeypatch.setattr(sendbatch, "_queued_only", counted("queued only", queued_only))
        monkeypatch.setattr(sendbatch, "_sent_whole", counted("sent whole", sent_whole))
        batched = _transfer(seed, **case)
        monkeypatch.setattr(sendbatch, "run_bytes", lambda conn, n: 0)
        skb_by_skb = _transfer(seed, **case)
        monkeypatch.undo()
        assert batched[1] == skb_by_skb[1], case
        assert batched[0] == skb_by_skb[0], case
        assert batched[2] == skb_by_skb[2], case
    # Both kinds of run were taken (they would pass trivially otherwise).
    assert taken["queued only"] > 10 and taken["sent whole"] > 10, taken


def test_a_write_that_leaves_as_it_is_queued_is_pushed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def write() -> tuple[list[tuple[int, int, int]], int]:
        p, c, _ = _connected(1500, True, 0.0002, warm=1000)
        assert c.snd_una == c.snd_nxt
        pushes = []
        transmit = output.transmit
        monkeypatch.setattr(output, "transmit", lambda *a, **k: pushes.append(1) or transmit(*a, **k))
        assert c.send(BLOCK, p.now) == len(BLOCK)
        monkeypatch.undo()
        return [(seg.seq, len(seg.payload), seg.flags) for seg in p.a.take_output()], len(pushes)

    packets, pushes = write()
    assert pushes == 1
    # 17 skbs of 45 segments (size_goal 65160), each gone in one packet; the last one, short,
    # in its whole segments and the small one that Nagle lets go (no other is in flight).
    rest = len(BLOCK) - 16 * 65160
    assert [n for _, n, _ in packets] == [65160] * 16 + [rest // 1448 * 1448, rest % 1448]
    monkeypatch.setattr(sendbatch, "run_bytes", lambda conn, n: 0)
    assert write() == (packets, 17)  # skb by skb: the same packets, a push for each skb
