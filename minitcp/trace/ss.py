"""`ss -tan` for one engine: every socket, its state, queues, and (-o) timers, (-i) internals.

    State      Recv-Q Send-Q Local Address:Port  Peer Address:Port
    LISTEN     0      5         198.18.0.2:80         0.0.0.0:*
    ESTAB      0      0         198.18.0.2:80      198.18.0.1:40000 timer:(on,200ms,0)
    TIME-WAIT  0      0         198.18.0.1:40000   198.18.0.2:80    timer:(timewait,59sec,0)

The columns and the timer notation follow iproute2's ss.c: a listener's
Recv-Q is its accept queue and Send-Q its backlog; times print as ss's
print_ms_timer does (`200ms`, `1.500sec`, `59sec`, `1min30sec`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minitcp.wire.ipv4 import ip_str

if TYPE_CHECKING:
    from minitcp.tcp.engine import TcpEngine

_HEADER = ("State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port")


def ms_timer(seconds: float) -> str:
    """ss's print_ms_timer (with its later `sec` fix): `200ms`, `1.500sec`, `59sec`, `1min30sec`."""
    timeout = max(int(seconds * 1000), 0)
    secs, msecs = divmod(timeout, 1000)
    minutes, secs = divmod(secs, 60)
    out = ""
    if minutes:
        msecs = 0
        out = f"{minutes}min"
        if minutes > 9:
            secs = 0
    if secs:
        if secs > 9:
            msecs = 0
        out += f"{secs}{'.' if msecs else 'sec'}"
    if msecs:
        out += f"{msecs:03d}{'sec' if secs else 'ms'}"
    return out or "0ms"  # ss prints nothing at all for zero; a learner reads 0ms better


def ss_rows(engine: TcpEngine, *, listening: bool = True, timers: bool = True, info: bool = False,
            now: float | None = None) -> list[tuple[str, ...]]:
    """One tuple per socket: state, recv-q, send-q, local, peer, extra (timers, internals).

    Timers count down to `now`; without it, to the engine's last packet or timer.
    """
    if now is None:
        now = engine.now
    rows: list[tuple[str, ...]] = []
    if listening:
        for lst in engine.listeners.values():
            rows.append(("LISTEN", str(len(lst.accept_queue)), str(lst.backlog),
                         f"{ip_str(lst.laddr)}:{lst.lport}", "0.0.0.0:*", ""))
    for conn in engine.conns.values():
        d = conn.info(now)
        extra = []
        if timers and d["timers"]:
            extra += [f"timer:({kind},{ms_timer(left)},{n})" for kind, left, n in d["timers"]]
        if info:
            extra.append(_internals(d))
        rows.append((d["state"], str(d["recv_q"]), str(d["send_q"]), d["local"], d["peer"], " ".join(extra)))
    for tw in engine.timewait_entries():
        laddr, lport, raddr, rport = tw.four_tuple
        timer = f"timer:(timewait,{ms_timer(tw.expires - now)},0)" if timers else ""
        rows.append(("TIME-WAIT", "0", "0", f"{ip_str(laddr)}:{lport}", f"{ip_str(raddr)}:{rport}", timer))
    return rows


def ss(engine: TcpEngine, *, listening: bool = True, timers: bool = True, info: bool = False,
       now: float | None = None) -> str:
    """The table as text, header first, columns aligned like ss's."""
    rows = ss_rows(engine, listening=listening, timers=timers, info=info, now=now)
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(5)]
    lines = []
    for row in [(*_HEADER, ""), *rows]:
        state, rq, sq, local, peer, extra = row
        line = (f"{state:<{widths[0]}}  {rq:<{widths[1]}} {sq:<{widths[2]}} "
                f"{local:>{widths[3]}}  {peer:<{widths[4]}} {extra}")
        lines.append(line.rstrip())
    return "\n".join(lines)


def _internals(d: dict[str, Any]) -> str:
    """The -i part: options, rto and rtt in ms, mss, windows and their autotuning; ssthresh only
    once set, as Linux does."""
    parts = []
    if d["ts"]:
        parts.append("ts")
    if d["sack"]:
        parts.append("sack")
    if d["wscale"] is not None:
        parts.append(f"wscale:{d['wscale'][0]},{d['wscale'][1]}")
    parts += [f"rto:{d['rto'] * 1000:g}", f"rtt:{d['rtt'] * 1000:g}", f"mss:{d['mss']}", f"cwnd:{d['cwnd']}"]
    if d["ssthresh"] < 0x7FFFFFFF // max(d["mss"], 1):
        parts.append(f"ssthresh:{d['ssthresh']}")
    # Receive autotuning, each only when nonzero, as ss prints tcpi_rcv_rtt/_space/_ssthresh.
    if d["rcv_rtt"]:
        parts.append(f"rcv_rtt:{d['rcv_rtt'] * 1000:g}")
    if d["rcv_space"]:
        parts.append(f"rcv_space:{d['rcv_space']}")
    if d["rcv_ssthresh"]:
        parts.append(f"rcv_ssthresh:{d['rcv_ssthresh']}")
    parts += [f"snd_wnd:{d['snd_wnd']}", f"rcv_wnd:{d['rcv_wnd']}"]
    if d["orphan"]:
        parts.append("orphan")
    return " ".join(parts)
