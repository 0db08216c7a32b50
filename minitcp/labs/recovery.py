# ruff: noqa: RUF001, RUF002  (the Chinese text uses full-width punctuation)
"""丢包之后，TCP 怎么恢复？ Loss recovery as Linux does it: SACK, the tail loss probe, undo, CUBIC.

minitcp sends; the peer (the kernel, or a second minitcp) receives and ACKs. Every lab first
gives the path a round trip (the peer's ACKs are delayed `RTT_MS`) and measures it with one
request and reply, then loses or delays exactly the data segments it talks about: `nth=N`
counts minitcp's segments from there on (a lone FIN is one, a pure ACK is one; the warm-up
waits out minitcp's delayed ACK so that none is sent in between).

The first three need the sender of issue 14 (SACK scoreboard, RACK-TLP, PRR, undo); on the
engine before it they fail in the checks docs/loss-recovery.md names.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from minitcp.tcp.cc.base import TCP_INFINITE_SSTHRESH
from minitcp.tcp.timers import TCP_TIMEOUT_MIN_US, TimerKind, jiffies

from .base import Ctx, Lab, Seg, Side, ms
from .plot import cwnd_plot_svg
from .watch import UNDO_COUNTERS, Fired, ReductionWatch, SegmentWatch, TimerWatch, UndoWatch, check_punctual

if TYPE_CHECKING:
    from minitcp.tcp.connection import Connection

RTT_MS = 10  # the peer's ACKs are delayed this long: a round trip for recovery to be measured in
SEGS = 40  # segments in the lab's one write
_SAME = 1e-6  # s: two times of one engine step (a float sum apart)
PLOT = Path(tempfile.gettempdir()) / "minitcp-cubic-vs-reno.svg"
# s: minitcp's tcp_rto_min (Linux's net.ipv4.tcp_rto_min_us) in the labs whose story has no RTO
# in it (sack-recovery, spurious-undo): their repairs take a few 10 ms round trips, but a process
# stalled past the 200 ms default with the peer's ACKs unread in its device (470 ms seen at load
# 8) wakes to a timeout those ACKs would have cancelled, the story then told with an RTO in it.
NO_RTO_MIN = 1.0


async def warm_up(ctx: Ctx, rtt_ms: int = RTT_MS) -> tuple[Side, Side, int]:
    """A connection minitcp -> peer on a path with an RTT, measured once; (client, server, MSS)."""
    client, server = await ctx.open("m")
    ctx.faults([f"delay:dir=in,ms={rtt_ms}"])
    await client.send(b"?")
    await server.recv(timeout=1.0)
    await server.send(b"!")
    await client.recv(timeout=1.0)
    await ctx.wait(0.25)  # minitcp's delayed ACK of the reply goes now, before the lab's rules
    return client, server, _conn(ctx).mss


def _conn(ctx: Ctx) -> Connection:
    """minitcp's one established connection in the lab (its congestion control, its MSS)."""
    conns = [c for c in ctx.engine().conns.values() if c.state.name == "ESTABLISHED"]
    return conns[-1]


async def send_all(side: Side, data: bytes) -> None:
    """The whole of `data` (a socket's send may take part of it)."""
    while data:
        n = await side.send(data)
        if not isinstance(n, int) or n <= 0:
            return
        data = data[n:]


async def receive_all(side: Side, n: int, seconds: float) -> bytes:
    got = b""
    with trio.move_on_after(seconds):
        while len(got) < n:
            data = await side.recv(timeout=seconds)
            if not isinstance(data, bytes) or not data:
                break
            got += data
    return got


async def transfer(client: Side, server: Side, data: bytes, seconds: float = 3.0) -> bytes:
    """`data` written by the client while the server reads: what the server received within
    `seconds`. A write still blocked then is given up (nothing more will be read)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_all, client, data)
        got = await receive_all(server, len(data), seconds)
        nursery.cancel_scope.cancel()
    return got


async def faulty_write(ctx: Ctx, client: Side, server: Side, rules: list[str],
                       size: int) -> tuple[bytes, bytes, list[Seg]]:
    """One write of `size` bytes with `rules` besides the path's round trip, counted from here
    (mark), and half a second for the repairs: (the data, what the peer got, minitcp's data
    segments)."""
    ctx.faults([*rules, f"delay:dir=in,ms={RTT_MS}"])
    ctx.mark()
    data = payload(size)
    got = await transfer(client, server, data)
    await ctx.wait(0.5)
    return data, got, data_segs(ctx)


def data_segs(ctx: Ctx) -> list[Seg]:
    return [s for s in ctx.segs("m") if s.length > 0]


def resent(segs: list[Seg]) -> list[Seg]:
    """The retransmissions among minitcp's data segments (a sequence number seen before)."""
    seen: set[int] = set()
    out = []
    for s in segs:
        if s.seq in seen:
            out.append(s)
        seen.add(s.seq)
    return out


def probe_timer_ok(ctx: Ctx, fired: Fired | None) -> None:
    """The probe's timeout as the engine armed it (watch.py: exact whatever the load), not the gap
    between the tail and the probe on the wire, which a stalled process stretches: 2·SRTT (Linux
    tcp_schedule_loss_probe, rounded up to a jiffy, plus TCP_TIMEOUT_MIN with more than one packet
    in flight), sooner than the RTO (SRTT + at least tcp_rto_min). Not "within 200 ms": the SRTT is
    what the path measured, and a loaded machine (a handshake answered late) makes it longer, in
    Linux too. Then whether the process fired it on time, its CPU wait excused."""
    timeout = fired.deadline - fired.armed if fired else 0.0
    srtt, rto = (fired.srtt, fired.rto) if fired else (0.0, 0.0)
    pto = jiffies(2 * srtt + TCP_TIMEOUT_MIN_US)
    ctx.check(fired is not None and timeout <= pto + _SAME and timeout < rto,
              f"it went when the probe timer fired, armed for {ms(timeout)}: 2·SRTT (SRTT {ms(srtt)}), "
              f"sooner than the RTO ({ms(rto)}, at least 200 ms)",
              f"它在探测定时器到期时发出，定时器定为 {ms(timeout)}：2·SRTT（SRTT {ms(srtt)}），"
              f"早于 RTO（{ms(rto)}，至少 200 ms）")
    if fired is not None:
        check_punctual(ctx, fired)


def _shown(ssthresh: int) -> str:
    """An ssthresh as `ss` shows it: none while it is still the initial, infinite one."""
    return "infinite" if ssthresh >= TCP_INFINITE_SSTHRESH else str(ssthresh)


def delivered(ctx: Ctx, got: bytes, data: bytes) -> None:
    ctx.check(got == data, f"the peer received all {len(data)} bytes, in order (got {len(got)})",
              f"对端按顺序收到了全部 {len(data)} 字节（收到 {len(got)}）")


def payload(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


# ---------------------------------------------------------------------------------------------- labs


async def sack_recovery(ctx: Ctx) -> None:
    ctx.set_knob("m", "tcp_rto_min", NO_RTO_MIN)
    client, server, mss = await warm_up(ctx)
    # Open the window first (slow start, no loss), so that many segments sent after the holes
    # are SACKed during the repair: PRR (Linux tcp_cwnd_reduction) lets one retransmission go
    # per segment delivered, so in a window of ten the third hole would wait for the next ACK.
    await transfer(client, server, payload(SEGS * mss))
    await ctx.wait(0.03)  # shorter than the RTO: no restart after idle (tcp_slow_start_after_idle)
    holes = (3, 5, 7)  # three holes near the start of one window
    data, got, segs = await faulty_write(ctx, client, server, [f"drop:dir=out,nth={n}" for n in holes],
                                         SEGS * mss)
    lost = [s for s in segs if s.lost]
    again = resent(segs)
    resends = [s.seq for s in again]
    ctx.check(len(lost) == 3 and all(resends.count(s.seq) == 1 for s in lost),
              f"three segments were lost mid-window and each of them was sent again once "
              f"(lost {len(lost)}; retransmissions in all {len(again)})",
              f"窗口中间丢了三个报文段，每个都只重传了一次（丢失 {len(lost)}；共重传 {len(again)} 次）")
    first_hole = min((s.seq for s in lost), default=0)
    # The ACK that covers the first repaired hole: a round trip after its retransmission. Judged
    # in the engine's order (the trace's), not by time: a process that stalled takes the peer's
    # ACKs in one batch, all stamped alike, and sends the retransmissions they allow among them
    # (at load 8, 1 run in 8 of the IPv6 lab had the last two and that ACK at one time).
    wire = ctx.segs()
    order = {id(s): i for i, s in enumerate(wire)}
    resends_at = [order[id(s)] for s in resent([s for s in wire if s.sender == "m" and s.length > 0])]
    covered = [i for i, s in enumerate(wire) if s.sender == "p" and s.ack is not None and lost
               and 0 < s.ack - first_hole < 1 << 31 and resends_at and i > resends_at[0]]
    one_rtt = bool(resends_at) and bool(covered) and all(i < covered[0] for i in resends_at)
    ctx.check(one_rtt, "all three were retransmitted within one round trip, before the ACK of the first "
                       "(SACK recovery, RFC 6675: not one hole per round trip as NewReno)",
              "三个报文段在一个往返时间之内全部重传，在第一个的 ACK 回来之前（SACK 恢复，RFC 6675；"
              "不是 NewReno 那样每个往返只补一个洞）")
    rto, sack = ctx.counter("m", "TCPTimeouts"), ctx.counter("m", "TCPSackRecovery")
    ctx.check(rto == 0 and sack == 1,
              f"no RTO: one SACK recovery (TCPSackRecovery +{sack}, TCPTimeouts +{rto})",
              f"没有超时重传：一次 SACK 恢复（TCPSackRecovery +{sack}，TCPTimeouts +{rto}）")
    delivered(ctx, got, data)


async def tail_loss_probe(ctx: Ctx) -> None:
    client, server, mss = await warm_up(ctx)
    n = 10  # one initial window
    real = not ctx.sim
    with SegmentWatch(ctx.engine(), real_time=real) as watch, \
            TimerWatch(ctx.engine(), real_time=real) as timers:
        data, got, segs = await faulty_write(ctx, client, server, [f"drop:dir=out,nth={n - 1}",
                                                                   f"drop:dir=out,nth={n}"], n * mss)
    lost = [s for s in segs if s.lost]
    again = resent(segs)
    tail = max((s.seq for s in segs[:n]), default=-1)
    ctx.check(len(lost) == 2 and bool(again) and again[0].seq == tail,
              f"the last two segments were lost; the first one sent again was the last segment: the probe "
              f"(lost {len(lost)}, retransmitted {len(again)})",
              f"最后两个报文段丢失；第一个重传的是最后一个报文段，即探测包"
              f"（丢失 {len(lost)}，重传 {len(again)}）")
    if again:
        probe_timer_ok(ctx, timers.fired_at(TimerKind.RTO, ctx.t0 + again[0].t))
    probes, rto = ctx.counter("m", "TCPLossProbes"), ctx.counter("m", "TCPTimeouts")
    # The probe's SACK shows the segment before it missing, and RACK repairs that, unless it came
    # back sooner than the path's minimum RTT: then it may be the original's, and says nothing of
    # time (RFC 8985 section 6.2 step 2, Linux tcp_rack_advance), so the RTO repairs it, in Linux
    # too. A loaded machine, late with the samples min_rtt was made of, can make it so.
    hole = min((s.seq for s in lost), default=-1)
    # The probe's answer: the last ACK of the hole (a duplicate, with the probe's SACK block).
    answer = [s.t for s in ctx.segs("p") if again and s.t > again[0].t and s.ack == hole]
    min_rtt = watch.min_rtt_at(ctx.t0 + answer[-1]) if answer else None
    probe_rtt = answer[-1] - again[0].t if answer else 0.0
    if min_rtt is not None and probe_rtt < min_rtt + 1e-6:
        ctx.check(probes == 1 and rto == 1,
                  f"a tail loss probe, then the RTO: its SACK came {ms(probe_rtt)} after it, sooner than "
                  f"the minimum RTT {ms(min_rtt)}, ambiguous for RACK (TCPLossProbes +{probes}, "
                  f"TCPTimeouts +{rto})",
                  f"先是尾部丢包探测，然后是超时重传：它的 SACK 在 {ms(probe_rtt)} 后回来，短于最小 RTT "
                  f"{ms(min_rtt)}，对 RACK 来说有歧义（TCPLossProbes +{probes}，TCPTimeouts +{rto}）")
    else:
        ctx.check(probes == 1 and rto == 0,
                  f"a tail loss probe, not the RTO (TCPLossProbes +{probes}, TCPTimeouts +{rto})",
                  f"是尾部丢包探测（TLP），不是超时重传（TCPLossProbes +{probes}，TCPTimeouts +{rto}）")
    delivered(ctx, got, data)


async def spurious_undo(ctx: Ctx) -> None:
    ctx.set_knob("m", "tcp_rto_min", NO_RTO_MIN)
    client, server, mss = await warm_up(ctx)
    late = 3 * RTT_MS  # long enough for the duplicate ACKs to trigger a retransmission first
    with ReductionWatch(ctx.engine()) as cut, UndoWatch(ctx.engine()) as undo:
        data, got, segs = await faulty_write(ctx, client, server, [f"delay:dir=out,nth=3,ms={late}"],
                                             SEGS * mss)
    # The third segment's retransmissions only: a loaded machine that takes the tail's ACK late
    # may also send a tail loss probe, the last segment again (Linux tcp_send_loss_probe), which
    # says nothing of how the late one was judged.
    third = segs[2].seq if len(segs) > 2 else -1
    again = [s for s in resent(segs) if s.seq == third]
    others = len(resent(segs)) - len(again)
    besides = f"; {others} of other segments besides" if others else ""
    besides_zh = f"；另有 {others} 次其他报文段的重传" if others else ""
    ctx.check(len(again) == 1, f"the third segment, only delayed {late} ms, was retransmitted as lost "
                               f"(its retransmissions: {len(again)}{besides})",
              f"第三个报文段只是被延迟了 {late} ms，却被当作丢失而重传"
              f"（它重传了 {len(again)} 次{besides_zh}）")
    dsack = ctx.counter("p", "TCPDSACKOldSent")
    ctx.check(bool(dsack), f"the original arrived after the copy: the peer reported it with a D-SACK "
                           f"(RFC 2883; peer TCPDSACKOldSent +{dsack})",
              f"原报文在重传之后到达：对端用 D-SACK 报告了重复（RFC 2883；对端 TCPDSACKOldSent +{dsack}）")
    undone = {k: ctx.counter("m", k) for k in UNDO_COUNTERS}
    moved = ", ".join(f"{k} +{v}" for k, v in undone.items() if v) or "none moved"
    ctx.check(any(undone.values()), f"minitcp undid the reduction (Linux tcp_try_undo_*: {moved})",
              f"minitcp 撤销了拥塞窗口的缩减（Linux tcp_try_undo_*：{moved}）")
    # Judged as the undo happened (watch.py), against what the reduction began from: the ssthresh it
    # saved (HyStart may have set one during slow start, ssthresh = cwnd) and the cwnd it cut
    # (CUBIC's undo_cwnd gives back at least the cwnd of the loss: Linux cubictcp_undo_cwnd).
    first = undo.undone[0] if undo.undone else None
    cwnd0 = cut.reductions[0].prior_cwnd if cut.reductions else 0
    ssthresh0 = first.prior_ssthresh if first else 0
    ssthresh, cwnd = (first.ssthresh, first.cwnd) if first else (0, 0)
    ctx.check(first is not None and ssthresh == ssthresh0 and cwnd >= cwnd0,
              f"cwnd restored: ssthresh back to {_shown(ssthresh0)}, cwnd {cwnd} not below its {cwnd0} "
              f"before the reduction (ssthresh after the undo {_shown(ssthresh)})",
              f"拥塞窗口已恢复：ssthresh 回到 {_shown(ssthresh0)}，cwnd {cwnd} 不低于缩减前的 {cwnd0}"
              f"（撤销后 ssthresh 为 {_shown(ssthresh)}）")
    delivered(ctx, got, data)


SAMPLE = 0.005  # seconds between two looks at cwnd in cubic-vs-reno
PLOT_RTT_MS = 50  # cubic-vs-reno's round trip: 40 of them in its 2 s, not too many segments to simulate


async def _cwnd_run(ctx: Ctx, algorithm: str, seconds: float) -> tuple[list[tuple[float, int]], int, int]:
    """One bulk transfer with one loss, minitcp's cwnd sampled every SAMPLE; (samples, cwnd when the
    loss was found, ssthresh set for it: both read in the engine step that began the first
    recovery, `ReductionWatch`, as a sample a busy machine delays could miss them)."""
    ctx.set_knob("m", "tcp_congestion_control", algorithm)
    client, server, mss = await warm_up(ctx, PLOT_RTT_MS)
    cc = _conn(ctx).recovery.cc
    ctx.faults(["drop:dir=out,nth=150", f"delay:dir=in,ms={PLOT_RTT_MS}"])
    start = ctx.now()
    samples: list[tuple[float, int]] = []
    block = payload(64 * mss)

    async def sink() -> None:
        while await server.recv(timeout=seconds):
            pass

    async def source() -> None:
        while True:
            await client.send(block)

    with ReductionWatch(ctx.engine()) as watch:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sink)
            nursery.start_soon(source)
            while ctx.now() - start < seconds:
                samples.append((ctx.now() - start, cc.cwnd))
                await trio.sleep(SAMPLE)
            nursery.cancel_scope.cancel()
    # The loss is found when recovery starts (HyStart may have moved ssthresh before: not a loss).
    first = watch.reductions[0] if watch.reductions else None
    return samples, (first.prior_cwnd if first else 0), (first.ssthresh if first else 0)


async def cubic_vs_reno(ctx: Ctx) -> None:
    seconds = 2.0
    runs: dict[str, Any] = {}
    for algorithm in ("cubic", "reno"):
        runs[algorithm] = await _cwnd_run(ctx, algorithm, seconds)
    PLOT.write_text(cwnd_plot_svg({name: r[0] for name, r in runs.items()}, PLOT_RTT_MS), encoding="utf-8")
    ctx.note(f"cwnd over time, both algorithms: {PLOT}", f"两种算法的 cwnd 随时间变化图：{PLOT}")
    for name, beta, beta_text in (("cubic", 717 / 1024, "0.7 (tcp_cubic.c beta 717/1024)"),
                                  ("reno", 0.5, "0.5 (tcp_reno_ssthresh)")):
        _, cwnd, ssthresh = runs[name]
        ok = cwnd > 10 and abs(ssthresh - cwnd * beta) <= 0.05 * cwnd
        ctx.check(ok, f"{name}: the loss set ssthresh to {ssthresh} from cwnd {cwnd}, about {beta_text}",
                  f"{name}：这次丢包把 ssthresh 从 cwnd {cwnd} 设为 {ssthresh}，约为 {beta_text}")
    # After the loss, CUBIC (0.7 kept, growing back towards W_max) carries more than Reno on average.
    mean = [_mean_after(runs[name][0]) for name in ("cubic", "reno")]
    # Only in virtual time: on a real path the TUN queue and a busy machine add losses of their own.
    if ctx.sim:
        ctx.check(mean[0] > mean[1],
                  f"after the loss CUBIC's cwnd averaged {mean[0]:.0f} segments, above Reno's {mean[1]:.0f}",
                  f"丢包之后 CUBIC 的 cwnd 平均为 {mean[0]:.0f} 个报文段，高于 Reno 的 {mean[1]:.0f}")
    ctx.check(PLOT.exists() and PLOT.read_text().count("<polyline") == 2,
              "both windows are drawn side by side in one SVG plot", "两条 cwnd 曲线画在同一张 SVG 图里")


def _mean_after(samples: list[tuple[float, int]]) -> float:
    """The mean cwnd from the first reduction on."""
    i = next((i for i in range(1, len(samples)) if samples[i][1] < samples[i - 1][1]), len(samples))
    after = [c for _, c in samples[i:]]
    return sum(after) / len(after) if after else 0.0


LABS = [
    Lab("sack-recovery", "丢了好几个包，TCP 要几个往返才能补上？",
        "Three holes in one window, one round trip",
        "一个窗口里三个洞，一个往返补齐", sack_recovery,
        "Three segments in the middle of one window are lost. The receiver's SACK blocks tell the "
        "sender exactly which ones it holds (RFC 2018); the scoreboard (RFC 6675, Linux "
        "tcp_sacktag_write_queue) marks the three holes lost and PRR (RFC 6937) lets them all go "
        "again in the same round trip. A sender without SACK (NewReno, RFC 6582) learns of the next "
        "hole only from the partial ACK of the previous one: one hole per round trip.",
        "一个窗口中间丢了三个报文段。接收方的 SACK 块（RFC 2018）告诉发送方它手里有哪些数据；"
        "记分板（RFC 6675，Linux tcp_sacktag_write_queue）把三个洞都标记为丢失，PRR（RFC 6937）"
        "让它们在同一个往返内全部重传。没有 SACK 的发送方（NewReno，RFC 6582）要等前一个洞的部分 "
        "ACK 才知道下一个洞：每个往返只能补一个。",
        "recovery", kernel_seconds=5),
    Lab("tail-loss-probe", "最后几个包丢了，要等超时重传吗？", "The tail is lost: a loss probe, not the RTO",
        "尾部丢包：靠探测包，而不是超时重传", tail_loss_probe,
        "The last two segments of a write are lost, so no later segment can draw duplicate ACKs. "
        "Linux does not wait for the RTO (at least 200 ms): tcp_schedule_loss_probe arms a probe "
        "timeout of about 2·SRTT, and tcp_send_loss_probe sends the last segment again (RFC 8985 "
        "section 7). Its SACK then shows the one before it missing, and RACK repairs that.",
        "一次写入的最后两个报文段丢失，后面没有数据能引出重复 ACK。Linux 不等 RTO（至少 200 ms）："
        "tcp_schedule_loss_probe 设一个约 2·SRTT 的探测超时，tcp_send_loss_probe 重传最后一个报文段"
        "（RFC 8985 第 7 节）；对端对它的 SACK 暴露出前一个也丢了，再由 RACK 补上。",
        "recovery", kernel_seconds=5),
    Lab("spurious-undo", "包只是晚到了，被误判为丢失怎么办？",
        "A late segment, a spurious retransmission, undone",
        "报文只是晚到：误重传被发现并撤销", spurious_undo,
        "One segment is delayed, not lost. The duplicate ACKs make the sender retransmit it and cut "
        "cwnd; then the original arrives and the receiver reports the duplicate with a D-SACK "
        "(RFC 2883). Linux sees that every retransmission was unnecessary (tcp_try_undo_dsack, "
        "tcp_try_undo_recovery) and undoes the reduction: cwnd and ssthresh go back (RFC 3708).",
        "一个报文段只是被延迟，并没有丢。重复 ACK 让发送方重传它并缩小 cwnd；随后原报文到达，接收方用 "
        "D-SACK（RFC 2883）报告重复。Linux 发现所有重传都是多余的（tcp_try_undo_dsack、"
        "tcp_try_undo_recovery），于是撤销缩减：cwnd 和 ssthresh 恢复原值（RFC 3708）。",
        "recovery", kernel_seconds=5),
    Lab("cubic-vs-reno", "CUBIC 和 Reno 的拥塞窗口有什么不同？", "CUBIC's window next to Reno's",
        "CUBIC 与 Reno 的拥塞窗口对比", cubic_vs_reno,
        "The same transfer with one loss, once with CUBIC (Linux's default, tcp_cubic.c) and once "
        "with Reno. Reno halves cwnd and adds one segment per round trip; CUBIC keeps 0.7 of it and "
        "grows back along a cubic curve towards the window where the loss happened (RFC 9438), "
        "never slower than Reno would. The plot draws both over time.",
        "同样的传输、同样的一次丢包，一次用 CUBIC（Linux 默认，tcp_cubic.c），一次用 Reno。Reno 把 cwnd "
        "减半，每个往返加一个报文段；CUBIC 保留 0.7，沿三次曲线向丢包时的窗口增长（RFC 9438），"
        "且不慢于 Reno。图中画出两者随时间的变化。",
        "recovery", kernel_seconds=8),
]
