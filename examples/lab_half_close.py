# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""A lab of one's own: after shutdown(SHUT_WR) a client can still receive (docs/labs.md's worked example).

Run it against a second minitcp stack in virtual time (no privileges, milliseconds):

    minitcp lab examples/lab_half_close.py --sim

or against the Linux kernel in a private network namespace (root): drop the --sim. Add
`--lang zh` for Chinese, `--fault drop:dir=in,flags=P,nth=1` to lose the server's reply
once (the verdict still passes: TCP retransmits it), `--pcap half.pcapng` for a capture.
"""

from __future__ import annotations

from minitcp.labs.base import Ctx, Lab, about, ms


async def half_close(ctx: Ctx) -> None:
    ctx.faults([])  # none of its own: a learner's --fault rules still apply
    client, server = await ctx.open("m")  # minitcp connects to the peer, which accepts
    ctx.mark()  # segments, states, times and counters count from here

    await client.shutdown()  # SHUT_WR: "I send no more", and a FIN says so
    ctx.check(await server.recv(timeout=1.0) == b"", "the server reads end-of-stream (0 bytes)",
              "服务端读到数据流结束（0 字节）")
    await ctx.wait(0.3)  # the server's ACK of the FIN may be a delayed one (up to 200 ms)
    ctx.check(await client.state() == "FIN_WAIT_2" and await server.state() == "CLOSE_WAIT",
              "half closed: the client in FIN_WAIT_2, the server in CLOSE_WAIT",
              "半关闭：客户端处于 FIN_WAIT_2，服务端处于 CLOSE_WAIT")

    reply = b"the answer, after your FIN"
    await server.send(reply)  # the other direction is still open
    got = await client.recv(timeout=2.0)  # bytes, or an error's name, or None if nothing came
    shown = f"“{got.decode()}”" if isinstance(got, bytes) else str(got)
    ctx.check(got == reply, f"the client still receives after its FIN: {shown}",
              f"客户端发出 FIN 之后仍能收到数据：{shown}")
    fin = ctx.segs("m", "F")
    data = [s for s in ctx.segs("p") if s.length and not s.lost]
    if fin and data:
        ctx.check(data[0].t >= fin[0].t, f"the data came {ms(data[0].t - fin[0].t)} after the client's FIN",
                  f"数据在客户端的 FIN 之后 {ms(data[0].t - fin[0].t)} 到达")

    await server.close()  # now the server's FIN: the client, the active closer, ends in TIME_WAIT
    await ctx.wait(0.5)
    ctx.check(await client.state() == "TIME_WAIT", "the client ends in TIME_WAIT", "客户端最后进入 TIME_WAIT")
    await ctx.wait(58.0)  # virtual time with --sim: a minute passes in milliseconds
    ctx.check(await client.state() == "TIME_WAIT", "still TIME_WAIT 58.5 s later", "58.5 秒后仍是 TIME_WAIT")
    await ctx.wait(2.0)
    entered = [t for t, state in ctx.timeline() if state == "TIME_WAIT"]
    closed = [t for t, state in ctx.timeline() if state == "CLOSED"]
    lasted = closed[0] - entered[0] if entered and closed else None
    ctx.check(lasted is not None and about(lasted, 60.0, 0.05),
              f"gone 60 s (TCP_TIMEWAIT_LEN) after it began: it lasted {ms(lasted) if lasted else 'on'}",
              f"开始 60 秒（TCP_TIMEWAIT_LEN）后消失：实际持续 {ms(lasted) if lasted else '未结束'}")


LAB = Lab(
    name="half-close",
    seed="shutdown(SHUT_WR) 之后还能收数据吗？",
    title="Half-close: shutdown(SHUT_WR) stops sending, not receiving",
    title_zh="半关闭：shutdown(SHUT_WR) 只停止发送，不停止接收",
    scenario=half_close,
    en="shutdown(SHUT_WR) sends a FIN, which closes one direction only: the server reads "
       "end-of-stream, yet may go on sending, and the client goes on receiving in FIN_WAIT_2. "
       "The connection ends when the server closes too.",
    zh="shutdown(SHUT_WR) 发出 FIN，只关闭一个方向：服务端读到数据流结束，但仍可继续发送，"
       "客户端在 FIN_WAIT_2 中照样接收。服务端也关闭后，连接才结束。",
    kernel_seconds=65.0,  # against the kernel, TIME_WAIT's minute is a real one
)
