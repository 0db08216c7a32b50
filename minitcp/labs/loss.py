# ruff: noqa: RUF001, RUF002  (the Chinese text uses full-width punctuation)
"""第一/二/三/四次挥手丢失了，会发生什么？ Each lab loses exactly one segment of the close, on the wire.

minitcp is the client and closes first. The fault rules are installed after
the handshake, so `nth=1` means the first matching segment of the close.
"""

from __future__ import annotations

from minitcp.tcp.timers import JIFFY, TimerKind

from .base import Ctx, Lab, Seg, Side, about, ms
from .watch import SegmentWatch, TimerWatch, check_punctual, cpu_wait

RTO_MIN, RTO_MAX = 0.195, 0.30  # the first retransmission: one RTO, 200 ms plus a tiny RTT on this wire


def retransmitted_by(ctx: Ctx, host: str, who: str, who_zh: str) -> None:
    """Whether `host`'s one retransmission of its FIN was the RTO or a tail loss probe, from its
    counters (TCPTimeouts, TCPLossProbes). Linux's tcp_schedule_loss_probe arms a probe for a lone
    FIN in flight (packets_out 1, SACK agreed, state Open), at the time the RTO would fire: the
    kernel and minitcp both show the probe."""
    probes, rtos = ctx.counter(host, "TCPLossProbes") or 0, ctx.counter(host, "TCPTimeouts") or 0
    kind, kind_zh = ("a tail loss probe", "尾部丢包探测（TLP）") if probes else ("the RTO", "超时重传（RTO）")
    ctx.check(probes == 1 and rtos == 0,
              f"{who}: its FIN retransmission was {kind} (TCPLossProbes +{probes}, TCPTimeouts +{rtos}), "
              "as Linux probes a lone FIN",
              f"{who_zh}：它的 FIN 重传是{kind_zh}（TCPLossProbes +{probes}，TCPTimeouts +{rtos}），"
              "和 Linux 一样对单独在途的 FIN 发探测包")


async def _until_closed(ctx: Ctx, side: Side) -> None:
    """Wait until `side` has given up: 15 RTO, 3 s at 200 ms, more when a busy machine measured a
    longer RTO; bounded."""
    for _ in range(100):
        await ctx.wait(0.1)
        if await side.state() == "CLOSED":
            break
    await ctx.wait(0.1)


def all_lost(ctx: Ctx, fins: list[Seg], whose: str, whose_zh: str) -> None:
    """The FIN of a close that never got through: sent 5 times with tcp_orphan_retries 3."""
    ctx.check(len(fins) == 5 and all(s.lost for s in fins),
              f"{whose} FIN was sent 1 + 1 loss probe + tcp_orphan_retries = 5 times, all lost "
              f"(sent {len(fins)}×)",
              f"{whose_zh}FIN 共发了 1 + 1（尾部丢失探测）+ tcp_orphan_retries = 5 次，全部丢失"
              f"（发了 {len(fins)} 次）")


def backoff_ok(ctx: Ctx, watch: TimerWatch, fins: list[Seg], who: str, who_zh: str) -> None:
    """The retransmission timer of a FIN never answered, as the engine armed it (watch.py: exact
    whatever the load): the loss probe after one RTO, the RTO from it, doubled each time (RFC 6298
    section 5.5), and the end when the last wait, 8 RTO, ran out (tcp_orphan_retries: Linux
    tcp_write_timeout), 16 RTO after the first FIN; then whether the process fired them on time."""
    first = ctx.t0 + (fins[0].t if fins else 0.0)
    fires = [f for f in watch.fired if f.kind is TimerKind.RTO and f.armed >= first - 1e-6]
    timeouts = [f.deadline - f.armed for f in fires]
    rto = timeouts[0] if timeouts else 0.0
    want = [rto * k for k in (1, 1, 2, 4, 8)]
    armed = ", ".join(ms(t) for t in timeouts)
    doubled = len(timeouts) == 5 and all(about(t, w, 0.002 + 0.02 * w)
                                         for t, w in zip(timeouts, want, strict=True))
    ctx.check(doubled,
              f"{who} armed its timer for the probe after one RTO, then the RTO, twice the last wait "
              f"each time: 1, 1, 2, 4, 8 RTO = {', '.join(ms(w) for w in want)} (armed for {armed})",
              f"{who_zh}的定时器：一个 RTO 后先发探测，之后每次等待时间是上一次的两倍：1、1、2、4、8 RTO = "
              f"{'、'.join(ms(w) for w in want)}（实际定为 {armed}）")
    end = [t for t, st in ctx.timeline() if st == "CLOSED"]
    last = fires[-1].at - ctx.t0 if fires else None
    ctx.check(len(fires) == 5 and bool(end) and last is not None and abs(end[0] - last) < 1e-6,
              f"{who} gave up silently when the last wait ran out, 16 RTO after its first FIN"
              + (f" (after {ms(end[0] - fins[0].t)})" if end and fins else " (never)"),
              f"{who_zh}在最后一次等待结束时、第一个 FIN 之后 16 RTO 悄悄放弃"
              + (f"（过了 {ms(end[0] - fins[0].t)}）" if end and fins else "（没有放弃）"))
    if fires:
        check_punctual(ctx, max(fires, key=lambda f: f.late - f.cpu_wait))


def gap_ok(ctx: Ctx, segs: list[Seg], rto: float, watch: SegmentWatch, waited: float, who: str,
           who_zh: str) -> None:
    """The peer's FIN retransmission, timed on the wire as minitcp took the two FINs in: after one
    RTO, at least 200 ms (tcp_rto_min), and no later than the RTO its socket had as the FIN left
    (`rto`: the kernel's TCP_INFO tcpi_rto; a lone FIN's loss probe, tcp_schedule_loss_probe, comes
    no later) plus the lateness Linux's timers may have: a jiffy (usecs_to_jiffies rounds up) and
    the timer wheel's granularity, at most an eighth of the timeout (kernel/time/timer.c: a level's
    granularity is 1/8 of its first timeout; 32 ms from 256 ms at HZ 250), plus how long minitcp's
    threads waited for a CPU before taking the second FIN in (from the first's arrival, or from
    `waited`, the CPU wait as the FIN left; the machine's load, excused). The RTO is the peer's
    own: a loaded machine's late handshake makes it longer than 200 ms, in Linux as measured."""
    if len(segs) < 2:
        return
    gap = segs[1].t - segs[0].t
    # From the first FIN's arrival where the engine saw it (not where the link dropped it).
    start = watch.cpu_wait_at(ctx.t0 + segs[0].t) or waited
    late = max((watch.cpu_wait_at(ctx.t0 + segs[1].t) or start) - start, 0.0)
    limit = rto + rto / 8 + JIFFY + late
    ctx.check(RTO_MIN <= gap <= limit,
              f"{who} retransmitted after one RTO, at least 200 ms (took {ms(gap)}; its RTO was {ms(rto)}, "
              f"minitcp's threads waited {ms(late)} for a CPU meanwhile)",
              f"{who_zh}过了一个 RTO（至少 200 ms）后超时重传（实际 {ms(gap)}；它的 RTO 为 {ms(rto)}，"
              f"其间 minitcp 的线程等 CPU {ms(late)}）")


def fin_timer_ok(ctx: Ctx, watch: TimerWatch, fins: list[Seg]) -> None:
    """minitcp's FIN retransmission, judged from its engine's timer (watch.py), not from the gap
    between the two FINs, which a stalled process stretches: the timeout the engine armed as the
    FIN left (exact, whatever the load), then whether the process fired it on time."""
    if len(fins) < 2:
        return
    fired = watch.fired_at(TimerKind.RTO, ctx.t0 + fins[1].t)
    timeout = fired.deadline - (ctx.t0 + fins[0].t) if fired else 0.0
    # The RTO (the loss probe of a lone FIN comes no later) is SRTT + max(4·RTTVAR, tcp_rto_min)
    # (RFC 6298 section 2, Linux tcp_set_rto): after the handshake's one sample RTTVAR = SRTT/2,
    # so at most 200 ms + 3·SRTT; a busy machine lengthens the SRTT that sample measured.
    rtt = fired.srtt if fired else 0.0
    ctx.check(fired is not None and RTO_MIN <= timeout <= RTO_MAX + 3 * rtt,
              f"the client retransmitted after one RTO, about 200 ms: its timer was armed for "
              f"{ms(timeout)} as the FIN left (RTT {ms(rtt)})",
              f"客户端过了一个 RTO（约 200 ms）后超时重传：FIN 发出时定时器定为 {ms(timeout)}"
              f"（RTT {ms(rtt)}）")
    if fired is not None:
        check_punctual(ctx, fired)


async def first_fin_lost(ctx: Ctx) -> None:
    client, server = await ctx.open("m")
    ctx.faults(["drop:dir=out,flags=F,nth=1"])
    ctx.mark()
    with TimerWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        await client.close()
        await ctx.wait(1.0)
    fins = ctx.segs("m", "F")
    ctx.check(len(fins) == 2 and fins[0].lost and not fins[1].lost,
              f"the client's FIN was sent twice, the first lost (sent {len(fins)}×)",
              f"客户端的 FIN 发了两次，第一次丢失（发了 {len(fins)} 次）")
    fin_timer_ok(ctx, watch, fins)
    acks = ctx.segs("p", exact=".")
    ctx.check(len(acks) == 1 and len(fins) == 2 and acks[0].t >= fins[1].t,
              "the server ACKed only the FIN that reached it, the retransmission",
              "服务端只对到达它的那个 FIN（重传的那个）回了 ACK")
    retransmitted_by(ctx, "m", "the client (minitcp)", "客户端（minitcp）")
    ctx.check(ctx.counter("m", "RetransSegs") == 1, "minitcp counted one retransmission (RetransSegs +1)",
              "minitcp 记了一次重传（RetransSegs +1）")
    ctx.check(await client.state() == "FIN_WAIT_2" and await server.state() == "CLOSE_WAIT",
              "then the close went on as usual: client FIN_WAIT_2, server CLOSE_WAIT",
              "之后挥手照常进行：客户端 FIN_WAIT_2，服务端 CLOSE_WAIT")
    await server.close()
    await ctx.wait(0.2)


async def fin_given_up(ctx: Ctx) -> None:
    # tcp_orphan_retries 0 means 8 tries, about 100 s: 3 keeps the lab at 3 s.
    ctx.set_knob("m", "tcp_orphan_retries", 3)
    client, server = await ctx.open("m")
    ctx.faults(["drop:dir=out,flags=F"])
    ctx.mark()
    with TimerWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        await client.close()
        await _until_closed(ctx, client)
    fins = ctx.segs("m", "F")
    # A lone FIN is one packet in flight: its loss probe (2*SRTT + rto_min, capped at the RTO:
    # Linux tcp_schedule_loss_probe) goes when the RTO would, and is not counted by
    # tcp_orphan_retries; the RTO then starts over from it, and backs off after.
    all_lost(ctx, fins, "the", "")
    ctx.check(ctx.counter("m", "TCPLossProbes") == 1,
              "the first retransmission was the loss probe (TCPLossProbes +1)",
              "第一次重传是尾部丢失探测（TCPLossProbes +1）")
    backoff_ok(ctx, watch, fins, "the client", "客户端")
    ctx.check(not ctx.segs("m", "R"), "it gave up silently: no RST", "客户端悄悄放弃：没有发 RST")
    ctx.check(ctx.counter("m", "TCPAbortOnTimeout") == 1, "TCPAbortOnTimeout +1",
              "TCPAbortOnTimeout +1（因超时而中止连接）")
    ctx.check(await server.state() == "ESTABLISHED", "the server never heard a thing: still ESTABLISHED",
              "服务端毫不知情：仍是 ESTABLISHED")
    await server.close()
    await ctx.wait(0.1)


async def server_fin_given_up(ctx: Ctx) -> None:
    # minitcp is the server this time: its FIN, sent from LAST_ACK, is the one always lost.
    ctx.set_knob("m", "tcp_orphan_retries", 3)
    client, server = await ctx.open("p")
    ctx.faults(["drop:dir=out,flags=F"])
    ctx.mark()
    await client.close()
    await server.recv(timeout=1.0)
    with TimerWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        await server.close()
        await _until_closed(ctx, server)
    fins = ctx.segs("m", "F")
    all_lost(ctx, fins, "the server's", "服务端的 ")
    backoff_ok(ctx, watch, fins, "the server, in LAST_ACK,", "处于 LAST_ACK 的服务端")
    ctx.check(not ctx.segs("m", "R"), "no RST was sent", "没有发 RST")
    ctx.check(await client.state() == "FIN_WAIT_2",
              "the client never got the FIN: it is left in FIN_WAIT_2 until its own tcp_fin_timeout",
              "客户端始终没收到 FIN：停在 FIN_WAIT_2，直到它自己的 tcp_fin_timeout 到期")


async def fin_ack_lost(ctx: Ctx) -> None:
    client, server = await ctx.open("m")
    ctx.faults(["drop:dir=in,flags=.,nth=1"])  # the server's first segment of the close: its ACK
    ctx.mark()
    with TimerWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        await client.close()
        await ctx.wait(1.0)
    acks = ctx.segs("p", exact=".")
    fins = ctx.segs("m", "F")
    ctx.check(len(acks) == 2 and acks[0].lost and not acks[1].lost,
              "the server's ACK was lost, a second one came",
              "服务端的 ACK 丢失了，后来又来了第二个")
    ctx.check(len(fins) == 2, f"the client, still in FIN_WAIT_1, sent its FIN again (sent {len(fins)}×)",
              f"客户端仍在 FIN_WAIT_1，重传了 FIN（发了 {len(fins)} 次）")
    fin_timer_ok(ctx, watch, fins)
    retransmitted_by(ctx, "m", "the client (minitcp)", "客户端（minitcp）")
    if len(acks) == 2 and len(fins) == 2:
        ctx.check(0 <= acks[1].t - fins[1].t <= 0.05,
                  "the server did not resend its ACK by itself: only the "
                  "repeated FIN made it ACK again, at once",
                  "服务端不会自己重传 ACK：是重复的 FIN 让它立即又回了一次 ACK")
    if ctx.counter("p", "RetransSegs") is not None:
        ctx.check(ctx.counter("p", "RetransSegs") == 0, "ACKs are never retransmitted: server RetransSegs +0",
                  "ACK 报文是不会重传的：服务端 RetransSegs +0")
    ctx.check(await client.state() == "FIN_WAIT_2", "the client reached FIN_WAIT_2",
              "客户端进入了 FIN_WAIT_2")
    await server.close()
    await ctx.wait(0.2)


async def server_fin_lost(ctx: Ctx) -> None:
    client, server = await ctx.open("m")
    ctx.faults(["drop:dir=in,flags=F,nth=1"])
    ctx.mark()
    await client.close()
    await ctx.wait(0.5)
    rto, waited = server.rto(), cpu_wait() if not ctx.sim else 0.0
    with SegmentWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        await server.close()
        await ctx.wait(1.0)
    fins = ctx.segs("p", "F")
    ctx.check(len(fins) == 2 and fins[0].lost and not fins[1].lost,
              f"the server's FIN was sent twice, the first lost (sent {len(fins)}×)",
              f"服务端的 FIN 发了两次，第一次丢失（发了 {len(fins)} 次）")
    gap_ok(ctx, fins, rto, watch, waited, "the server, in LAST_ACK,", "处于 LAST_ACK 的服务端")
    retransmitted_by(ctx, "p", "the server (the peer)", "服务端（对端）")
    last = ctx.segs("m", exact=".")
    ctx.check(len(last) == 1 and len(fins) == 2 and last[0].t >= fins[1].t, "the client ACKed the second FIN",
              "客户端对第二个 FIN 回了 ACK")
    ctx.check(await client.state() == "TIME_WAIT", "the client is in TIME_WAIT", "客户端处于 TIME_WAIT")
    ctx.check(await server.state() == "CLOSED", "the server is CLOSED", "服务端已是 CLOSED")


async def last_ack_lost(ctx: Ctx) -> None:
    client, server = await ctx.open("m")
    ctx.mark()
    await client.close()
    await ctx.wait(0.5)
    ctx.faults(["drop:dir=out,flags=.,nth=1"])  # now the next thing the client sends is the last ACK
    rto, waited = server.rto(), cpu_wait() if not ctx.sim else 0.0
    with SegmentWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        await server.close()
        await ctx.wait(1.0)
    fins = ctx.segs("p", "F")
    acks = ctx.segs("m", exact=".", since=0.4)
    ctx.check(len(acks) == 2 and acks[0].lost and not acks[1].lost,
              f"the client's last ACK was lost, and sent again (sent {len(acks)}×)",
              f"客户端最后的 ACK 丢失了，之后又发了一次（发了 {len(acks)} 次）")
    ctx.check(len(fins) == 2, f"the server, in LAST_ACK, retransmitted its FIN (sent {len(fins)}×)",
              f"处于 LAST_ACK 的服务端重传了 FIN（发了 {len(fins)} 次）")
    gap_ok(ctx, fins, rto, watch, waited, "the server", "服务端")
    retransmitted_by(ctx, "p", "the server (the peer)", "服务端（对端）")
    ctx.check(await client.state() == "TIME_WAIT",
              "the client was in TIME_WAIT, so the repeated FIN found someone to ACK it",
              "客户端处于 TIME_WAIT，所以重传的 FIN 仍有人回 ACK")
    ctx.check(await server.state() == "CLOSED", "the server closed cleanly", "服务端正常关闭")


LABS = [
    Lab("first-fin-lost", "第一次挥手丢失了，会发生什么？", "The first FIN is lost",
        "第一次挥手的 FIN 丢失", first_fin_lost,
        "The client's FIN is lost on the wire. No ACK comes back, so the client stays in FIN_WAIT_1 "
        "and its retransmission timer sends the FIN again after one RTO (at least 200 ms). "
        "How many times it may try is tcp_orphan_retries (see fin-retries-exhausted). "
        "RTO or loss probe? Linux arms a tail loss probe for a lone FIN (tcp_schedule_loss_probe): its "
        "timeout is 2·SRTT plus 200 ms (room for a delayed ACK when one segment is in flight), cut "
        "to when the RTO would fire. On a short path both come at about 200 ms: only TCPLossProbes "
        "or TCPTimeouts tells which one resent the FIN.",
        "第一次挥手丢失：客户端收不到 ACK，停在 FIN_WAIT_1，触发超时重传，过一个 RTO（至少 200 ms）重传 FIN；"
        "重发次数由 tcp_orphan_retries 参数控制。"
        "是 RTO 还是探测包？Linux 对单独在途的 FIN 也会设尾部丢包探测（tcp_schedule_loss_probe）："
        "超时为 2·SRTT 加 200 ms（只有一个报文在途时为延迟 ACK 留出时间），且不晚于 RTO 到期之时。"
        "在短路径上两者都在约 200 ms 时发生：只有 TCPLossProbes 或 TCPTimeouts 计数能分辨是谁重传了 FIN。",
        "loss", kernel_seconds=2),
    Lab("fin-retries-exhausted", "第一次挥手丢失了，会发生什么？ — 重发次数由 tcp_orphan_retries 参数控制",
        "Every FIN is lost: the client gives up", "FIN 每次都丢失：客户端放弃", fin_given_up,
        "Every FIN is lost. Each retransmission waits twice as long as the one before (exponential "
        "backoff); the first is the loss probe, sent when the RTO would fire (a lone FIN is one "
        "packet in flight: its probe timeout, 2*SRTT + rto_min, is capped at the RTO), and not "
        "counted. After 2 + tcp_orphan_retries transmissions (3 here, set for the lab; 0 means 8, "
        "about 100 s) and one last wait, the client drops the connection without a word.",
        "每次第一次挥手都丢失：每次重传的等待时间翻倍（指数退避）。重传 tcp_orphan_retries 次（本实验设为 "
        "3，默认 0 即 8 次，"
        "约 100 秒）后再等一个超时，客户端直接关闭连接，不发 RST；服务端毫不知情，仍是 ESTABLISHED。",
        "loss", kernel_seconds=12),
    Lab("fin-ack-lost", "第二次挥手丢失了，会发生什么？", "The ACK of the first FIN is lost",
        "第二次挥手的 ACK 丢失", fin_ack_lost,
        "The server's ACK is lost. ACKs are never retransmitted on their own, so it is the client, "
        "still in FIN_WAIT_1, that resends its FIN after the RTO; the server sees a FIN it already "
        "has and ACKs it again, at once. "
        "RTO or loss probe? Linux arms a tail loss probe for a lone FIN (tcp_schedule_loss_probe): its "
        "timeout is 2·SRTT plus 200 ms (room for a delayed ACK when one segment is in flight), cut "
        "to when the RTO would fire. On a short path both come at about 200 ms: only TCPLossProbes "
        "or TCPTimeouts tells which one resent the FIN.",
        "第二次挥手丢失：ACK 报文是不会重传的，客户端停在 FIN_WAIT_1，超时后重传 FIN，服务端收到重复的 FIN "
        "立即再回 ACK。"
        "是 RTO 还是探测包？Linux 对单独在途的 FIN 也会设尾部丢包探测（tcp_schedule_loss_probe）："
        "超时为 2·SRTT 加 200 ms（只有一个报文在途时为延迟 ACK 留出时间），且不晚于 RTO 到期之时。"
        "在短路径上两者都在约 200 ms 时发生：只有 TCPLossProbes 或 TCPTimeouts 计数能分辨是谁重传了 FIN。",
        "loss", kernel_seconds=2),
    Lab("server-fin-lost", "第三次挥手丢失了，会发生什么？", "The server's FIN is lost",
        "第三次挥手：服务端的 FIN 丢失", server_fin_lost,
        "The server application closed (CLOSE_WAIT → LAST_ACK); its FIN is lost. The server "
        "retransmits it after its RTO, under the same tcp_orphan_retries limit; the client, in "
        "FIN_WAIT_2, ACKs it and enters TIME_WAIT. "
        "RTO or loss probe? Linux arms a tail loss probe for a lone FIN (tcp_schedule_loss_probe): its "
        "timeout is 2·SRTT plus 200 ms (room for a delayed ACK when one segment is in flight), cut "
        "to when the RTO would fire. On a short path both come at about 200 ms: only TCPLossProbes "
        "or TCPTimeouts tells which one resent the FIN.",
        "第三次挥手丢失：服务端调用 close 后进入 LAST_ACK，收不到 ACK 就重发 FIN，重发次数同样由 tcp_orphan_r"
        "etries 控制；"
        "客户端在 FIN_WAIT_2 收到重传的 FIN 后回 ACK，进入 TIME_WAIT。"
        "是 RTO 还是探测包？Linux 对单独在途的 FIN 也会设尾部丢包探测（tcp_schedule_loss_probe）："
        "超时为 2·SRTT 加 200 ms（只有一个报文在途时为延迟 ACK 留出时间），且不晚于 RTO 到期之时。"
        "在短路径上两者都在约 200 ms 时发生：只有 TCPLossProbes 或 TCPTimeouts 计数能分辨是谁重传了 FIN。",
        "loss", kernel_seconds=3),
    Lab("server-fin-retries-exhausted",
        "第三次挥手丢失了，会发生什么？ — 重发次数仍然由 tcp_orphan_retries 参数控制",
        "Every server FIN is lost: the server gives up", "服务端的 FIN 每次都丢失：服务端放弃",
        server_fin_given_up,
        "minitcp is the server here. The client closed; the server application closed too "
        "(LAST_ACK), but every FIN it sends is lost. Like the client's FIN, it is retransmitted "
        "with exponential backoff and given up after tcp_orphan_retries (3 for the lab). The client "
        "never hears the FIN and is left in FIN_WAIT_2, until its own tcp_fin_timeout ends it.",
        "第三次挥手一直丢失：服务端在 LAST_ACK 重发 FIN，每次等待时间翻倍，"
        "重发 tcp_orphan_retries 次（本实验为 3）后放弃，直接关闭，不发 RST。"
        "客户端收不到 FIN，停在 FIN_WAIT_2，直到 tcp_fin_timeout 到期。",
        "loss", kernel_seconds=12),
    Lab("last-ack-lost", "第四次挥手丢失了，会发生什么？", "The last ACK is lost",
        "第四次挥手：最后的 ACK 丢失", last_ack_lost,
        "The client's last ACK is lost. The server, in LAST_ACK, retransmits its FIN after the RTO; "
        "the client is in TIME_WAIT, so it is still there to ACK it again (and its 60 s start over). "
        "RTO or loss probe? Linux arms a tail loss probe for a lone FIN (tcp_schedule_loss_probe): its "
        "timeout is 2·SRTT plus 200 ms (room for a delayed ACK when one segment is in flight), cut "
        "to when the RTO would fire. On a short path both come at about 200 ms: only TCPLossProbes "
        "or TCPTimeouts tells which one resent the FIN.",
        "第四次挥手丢失：服务端在 LAST_ACK 收不到 ACK，超时重发 FIN；客户端处于 TIME_WAIT，仍能再回一次 ACK，"
        "服务端正常关闭。"
        "是 RTO 还是探测包？Linux 对单独在途的 FIN 也会设尾部丢包探测（tcp_schedule_loss_probe）："
        "超时为 2·SRTT 加 200 ms（只有一个报文在途时为延迟 ACK 留出时间），且不晚于 RTO 到期之时。"
        "在短路径上两者都在约 200 ms 时发生：只有 TCPLossProbes 或 TCPTimeouts 计数能分辨是谁重传了 FIN。",
        "loss", kernel_seconds=3),
]
