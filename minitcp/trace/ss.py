"""`ss -tan` for one engine: every socket, its state, queues, and (-o) timers, (-i) TCP_INFO.

    State      Recv-Q Send-Q Local Address:Port  Peer Address:Port
    LISTEN     0      5         198.18.0.2:80         0.0.0.0:*
    ESTAB      0      0         198.18.0.2:80      198.18.0.1:40000 timer:(on,200ms,0)
    TIME-WAIT  0      0         198.18.0.1:40000   198.18.0.2:80    timer:(timewait,59sec,0)

The columns and the timer notation follow iproute2's ss.c: a listener's
Recv-Q is its accept queue and Send-Q its backlog; times print as ss's
print_ms_timer does (`200ms`, `1.500sec`, `59sec`, `1min30sec`); with -i each
connection's TCP_INFO follows on a line of its own, as tcp_stats_print prints it, and (not
in iproute2's ss) `ca_state:Recovery` when the congestion state is not Open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minitcp.tcp import tcpinfo
from minitcp.tcp.cc import CaState
from minitcp.tcp.family import endpoint_str, is_v6
from minitcp.tcp.states import State

if TYPE_CHECKING:
    from minitcp.tcp.connection import Connection
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
        # A dual-stack listener is in the table twice (under both wildcards): shown once, as
        # Linux's ss shows an IPv6 wildcard socket that takes IPv4 too, `*:port`.
        for lst in dict.fromkeys(engine.listeners.values()):
            if engine.listeners.get((0, lst.lport)) is lst and is_v6(lst.laddr):
                local, peer = f"*:{lst.lport}", "*:*"
            else:
                local = endpoint_str(lst.laddr, lst.lport)
                peer = "[::]:*" if is_v6(lst.laddr) else "0.0.0.0:*"
            rows.append(("LISTEN", str(len(lst.accept_queue)), str(lst.backlog), local, peer, ""))
    for conn in engine.conns.values():
        d = conn.info(now)
        extra = []
        if timers and d["timers"]:
            extra += [f"timer:({kind},{ms_timer(left)},{n})" for kind, left, n in d["timers"]]
        if info:
            extra.append(_info_text(conn, now))
        rows.append((d["state"], str(d["recv_q"]), str(d["send_q"]), d["local"], d["peer"], " ".join(extra)))
    for req in engine.requests.values():  # a request has no TCP_INFO (Linux: no socket to ask)
        d = req.info(now)
        timer = " ".join(f"timer:({kind},{ms_timer(left)},{n})" for kind, left, n in d["timers"]) \
            if timers else ""
        rows.append((d["state"], "0", "0", d["local"], d["peer"], timer))
    for tw in engine.timewait_entries():
        laddr, lport, raddr, rport = tw.four_tuple
        timer = f"timer:(timewait,{ms_timer(tw.expires - now)},0)" if timers else ""
        rows.append(("TIME-WAIT", "0", "0", endpoint_str(laddr, lport), endpoint_str(raddr, rport), timer))
    return rows


def ss(engine: TcpEngine, *, listening: bool = True, timers: bool = True, info: bool = False,
       now: float | None = None) -> str:
    """The table as text, header first, columns aligned like ss's."""
    if now is None:
        now = engine.now
    rows = ss_rows(engine, listening=listening, timers=timers, now=now)
    # With -i, ss prints each connection's TCP_INFO on a line of its own, after a tab.
    below = [""] * len(rows)
    if info:
        first = len(set(engine.listeners.values())) if listening else 0  # a dual-stack one once
        for i, conn in enumerate(engine.conns.values()):
            below[first + i] = "\t " + _info_text(conn, now)
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(5)]
    lines = []
    for row, more in [((*_HEADER, ""), ""), *zip(rows, below, strict=True)]:
        state, rq, sq, local, peer, extra = row
        line = (f"{state:<{widths[0]}}  {rq:<{widths[1]}} {sq:<{widths[2]}} "
                f"{local:>{widths[3]}}  {peer:<{widths[4]}} {extra}")
        lines.append(line.rstrip())
        if more:
            lines.append(more)
    return "\n".join(lines)


def _info_text(conn: Connection, now: float) -> str:
    return tcp_info_text(tcpinfo.tcp_info(conn, now), conn.recovery.cc.name)


def tcp_info_text(info: dict[str, Any], congestion: str) -> str:
    """TCP_INFO as `ss -tni` prints it (iproute2 misc/ss.c tcp_show_info and tcp_stats_print,
    6.x): each field only when nonzero, in ss's order and units (times in ms, rates in bit/s,
    numeric as with -n)."""
    out: list[str] = []

    def add(text: str, value: float = 1) -> None:
        if value:
            out.append(text)

    opts = info["options"]
    add("ts", opts & tcpinfo.TCPI_OPT_TIMESTAMPS)
    add("sack", opts & tcpinfo.TCPI_OPT_SACK)
    add("ecn", opts & tcpinfo.TCPI_OPT_ECN)
    add("ecnseen", opts & tcpinfo.TCPI_OPT_ECN_SEEN)
    add("fastopen", opts & tcpinfo.TCPI_OPT_SYN_DATA)
    add(congestion)
    add(f"wscale:{info['snd_wscale']},{info['rcv_wscale']}", opts & tcpinfo.TCPI_OPT_WSCALE)
    rto = info["rto"] / 1000 if info["rto"] != 3_000_000 else 0  # ss hides the 3 s default
    add(f"rto:{rto:g}", rto)
    add(f"backoff:{info['backoff']}", info["backoff"])
    rtt = info["rtt"] / 1000
    add(f"rtt:{rtt:g}/{info['rttvar'] / 1000:g}", rtt)
    add(f"ato:{info['ato'] / 1000:g}", info["ato"])
    for name, key in (("mss", "snd_mss"), ("pmtu", "pmtu"), ("rcvmss", "rcv_mss"), ("advmss", "advmss"),
                      ("cwnd", "snd_cwnd")):
        add(f"{name}:{info[key]}", info[key])
    if info["snd_ssthresh"] < 0xFFFF:  # ss prints ssthresh only once it is set
        add(f"ssthresh:{info['snd_ssthresh']}", info["snd_ssthresh"])
    for key in ("bytes_sent", "bytes_retrans", "bytes_acked", "bytes_received", "segs_out", "segs_in",
                "data_segs_out", "data_segs_in"):
        add(f"{key}:{info[key]}", info[key])
    if info["rtt"] and info["snd_mss"] and info["snd_cwnd"]:
        out.append(f"send {info['snd_cwnd'] * info['snd_mss'] * 8_000_000 / info['rtt']:.0f}bps")
    for name, key in (("lastsnd", "last_data_sent"), ("lastrcv", "last_data_recv"),
                      ("lastack", "last_ack_recv")):
        add(f"{name}:{info[key]}", info[key])
    if info["pacing_rate"] and info["pacing_rate"] != tcpinfo.NO_PACING_LIMIT:
        rate = f"pacing_rate {info['pacing_rate'] * 8:.0f}bps"
        if info["max_pacing_rate"] and info["max_pacing_rate"] != tcpinfo.NO_PACING_LIMIT:
            rate += f"/{info['max_pacing_rate'] * 8:.0f}bps"
        out.append(rate)
    add(f"delivery_rate {info['delivery_rate'] * 8:.0f}bps", info["delivery_rate"])
    add(f"delivered:{info['delivered']}", info["delivered"])
    add(f"delivered_ce:{info['delivered_ce']}", info["delivered_ce"])
    add("app_limited", info["delivery_rate_app_limited"])
    if info["busy_time"]:
        busy = info["busy_time"]
        out.append(f"busy:{busy // 1000}ms")
        for key in ("rwnd_limited", "sndbuf_limited"):
            add(f"{key}:{info[key] // 1000}ms({100 * info[key] / busy:.1f}%)", info[key])
    add(f"unacked:{info['unacked']}", info["unacked"])
    add(f"retrans:{info['retrans']}/{info['total_retrans']}", info["retrans"] or info["total_retrans"])
    add(f"lost:{info['lost']}", info["lost"])
    add(f"sacked:{info['sacked']}", info["sacked"] and info["state"] != tcpinfo.LINUX_STATE[State.LISTEN])
    add(f"dsack_dups:{info['dsack_dups']}", info["dsack_dups"])
    add(f"fackets:{info['fackets']}", info["fackets"])
    add(f"reordering:{info['reordering']}", info["reordering"] != 3)
    add(f"reord_seen:{info['reord_seen']}", info["reord_seen"])
    add(f"rcv_rtt:{info['rcv_rtt'] / 1000:g}", info["rcv_rtt"])
    add(f"rcv_space:{info['rcv_space']}", info["rcv_space"])
    add(f"rcv_ssthresh:{info['rcv_ssthresh']}", info["rcv_ssthresh"])
    add(f"notsent:{info['notsent_bytes']}", info["notsent_bytes"])
    if info["min_rtt"] and info["min_rtt"] != tcpinfo.NO_MIN_RTT:
        out.append(f"minrtt:{info['min_rtt'] / 1000:g}")
    for key in ("rcv_ooopack", "snd_wnd", "rcv_wnd", "rehash"):
        add(f"{key}:{info[key]}", info[key])
    # Not in iproute2's ss: the congestion state (TCP_INFO's tcpi_ca_state), once it has left Open,
    # so that a connection in Recovery or Loss says so beside its cwnd, lost and retrans counts.
    if info["ca_state"]:
        out.append(f"ca_state:{CaState(info['ca_state']).name.title()}")
    return " ".join(out)
