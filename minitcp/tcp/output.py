"""The sending half of a connection: segments out, the send window, Nagle, retransmission
of the head, and the decision to send a pending ACK now or later (Linux tcp_output.c).

Module functions over a `Connection`, as Linux's tcp_output.c is over a tcp_sock:
`transmit` sends what the windows allow, `send_ack` and friends send control
segments, `emit` hands a segment to the engine. The window a segment offers is
the receive window's (`conn.rwin.select`), whether an ACK may wait is the
delayed-ACK part's (`conn.delack`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wire import tso
from ..wire.segment import ACK, CWR, ECE, FIN, PSH, RST, SYN, Segment, Segment6
from . import pacing, pushmarks, sendlog, tsodefer
from .family import IPV4_MAX
from .rcvwindow import window_space
from .seq import MASK, seq_diff, seq_gt, seq_lt
from .sockopts import dont_fragment, ip_ttl, options
from .states import DONE, State
from .timers import INF, TimerKind

if TYPE_CHECKING:
    from .connection import Connection

_DATA_STATES = frozenset(
    {State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_1, State.CLOSING, State.LAST_ACK}
)
# RFC 3168 section 5: the ECN field of the IP TOS byte, and ECT(0) (include/net/inet_ecn.h).
INET_ECN_MASK = 0x03
INET_ECN_ECT_0 = 0x02


# ------------------------------------------------------------------ building segments

def syn_window(space: int, mss: int) -> int:
    """The window a SYN or SYN-ACK offers from receive space `space` with segments of `mss`
    bytes (the rounding is described in `segment`)."""
    if space > mss:
        space -= space % mss
    return min(space, 0xFFFF)


def segment(conn: Connection, seq: int, flags: int, payload: bytes | memoryview = b"") -> Segment:
    """A segment from this connection carrying our current ACK, window and options."""
    win = conn.rwin.select(conn)  # what an ACK offers, and records (even a SYN-ACK's)
    if flags & SYN:
        # RFC 7323 section 2.2: the window in a SYN is never scaled. Linux
        # (tcp_select_initial_window) rounds the space down to a multiple of the MSS, less
        # the timestamp option once the SYN-ACK knows it is in use (tcp_openreq_init_rwin),
        # but only when the space exceeds the MSS (a larger MSS would round it to a zero
        # window), then caps it at 65535: 64240 in a SYN, 65160 in a SYN-ACK with timestamps.
        window = syn_window(window_space(conn), conn.advmss - (12 if flags & ACK and conn.ts_ok else 0))
    else:
        window = win >> conn.rcv_wscale
    # IP_TOS and IP_TTL (Linux ip_queue_xmit: inet->tos, ip_select_ttl); inline for the
    # common connection that set no option.
    opts = conn.opts
    # DF as IP_MTU_DISCOVER says (Linux ip_dont_fragment: not with IP_PMTUDISC_DONT, the mode
    # ip_no_pmtu_disc gives a socket that set none).
    if opts is None:
        knobs = conn.engine.knobs
        tos, ttl, df = 0, knobs.ip_default_ttl, not knobs.ip_no_pmtu_disc
    else:
        tos, ttl, df = opts.tos, ip_ttl(conn), dont_fragment(conn)
    seg = (Segment6 if conn.laddr > IPV4_MAX else Segment)(
        conn.laddr, conn.raddr, conn.lport, conn.rport, seq,
        conn.rcv_nxt if flags & ACK else 0, flags, window, payload, tos=tos, ttl=ttl, df=df,
    )
    if conn.ts_ok:
        seg.ts_val = (int(conn.engine.now * 1000) + conn.ts_offset) & MASK
        seg.ts_ecr = conn.ts_recent if flags & ACK else 0
    if conn.ecn_ok and not flags & SYN:
        _ecn_send(conn, seg, seq, flags, payload)
    if flags & ACK:
        _ack_sent(conn, win)
        rcvbuf = conn.rcvbuf
        if conn.sack_ok and rcvbuf is not None and (rcvbuf.ooo or rcvbuf.dsack is not None
                                                    or conn.fin_beyond_hole):
            # RFC 2018 section 3: at most 3 blocks beside timestamps, 4 without; a D-SACK
            # block goes first and counts against them (RFC 2883 section 4).
            seg.sack = rcvbuf.sack_blocks(conn.rcv_nxt, 3 if conn.ts_ok else 4, conn.rcv_fin_seq)
    return seg


def syn_segment(conn: Connection, retransmit: bool = False, synack: bool = False) -> Segment:
    """Our SYN, or SYN-ACK in SYN-RECEIVED or when `synack` asks (a SYN cookie's, whose
    connection is never made: syncookies.py)."""
    flags = SYN | ACK if synack or conn.state == State.SYN_RECEIVED else SYN
    if conn.ecn_ok:
        if flags & ACK:
            flags |= ECE  # RFC 3168 section 6.1.1: an ECN-setup SYN-ACK (Linux tcp_ecn_make_synack)
        elif not (retransmit and conn.engine.knobs.tcp_ecn_fallback):
            # An ECN-setup SYN; a retransmission goes without, in case a middlebox drops
            # them (RFC 3168 section 6.1.1.1, Linux tcp_ecn_clear_syn).
            flags |= ECE | CWR
    seg = segment(conn, conn.iss, flags)
    seg.mss = conn.advmss
    if conn.wscale_ok:
        seg.wscale = conn.rcv_wscale
    seg.sack_permitted = conn.sack_ok
    return seg


def emit(conn: Connection, seg: Segment, retransmit: bool = False, reason: str = "") -> bool:
    """Hand a segment to the engine's output, counting it (and telling an observer). False when
    the local device dropped it (`engine.xmit_drop`): Linux __tcp_transmit_skb has counted it
    already, gets NET_XMIT_DROP from the qdisc and reduces cwnd (tcp_enter_cwr), and its
    caller keeps the data queued."""
    eng = conn.engine
    segs = tso.wire_count(seg)
    eng.counters["OutSegs"] += segs
    # TCP_INFO's counts (Linux __tcp_transmit_skb, __tcp_retransmit_skb).
    if not (seg.flags & SYN and conn.passive):
        conn.segs_out += segs  # (Linux: a listener's request sends the SYN-ACK, and keeps the count)
    log = conn.sendlog
    if seg.payload and log is not None:  # (data comes from the buffer the first write made, with it)
        log.data_segs_out += segs
        log.bytes_sent += len(seg.payload)
        if retransmit:
            log.bytes_retrans += len(seg.payload)
    if retransmit and not (eng.xmit_drop and seg.flags & SYN and conn.passive):
        # Linux __tcp_retransmit_skb: TCP_MIB_RETRANSSEGS counts the packet's segments (pcount),
        # as total_retrans and bytes_retrans do, before tcp_transmit_skb, so a local drop too
        # (a listener's request counts its SYN-ACK only once it left: tcp_rtx_synack).
        eng.counters["RetransSegs"] += segs
        conn.total_retrans += segs
    if eng.xmit_drop:
        if conn.state in _DATA_STATES:
            conn.recovery.enter_cwr(conn)
        return False
    eng.out.append(seg)
    if eng.observer is not None:
        # An observer sees the segments the wire will carry, a TSO segment's one by one; one that
        # has `on_tso` is told first that the next ones are the pieces of one TSO packet (the
        # trace marks them as the host, or Linux's tcp_gso_segment, cuts them).
        if seg.gso and (on_tso := getattr(eng.observer, "on_tso", None)) is not None:
            on_tso(conn, seg, eng.now)
        for piece in tso.split(seg) if seg.gso else (seg,):
            eng.observer.on_segment(conn, "out", piece, eng.now)
            if retransmit:
                eng.observer.on_retransmit(conn, piece, eng.now, reason)
    if seg.flags & RST:
        eng.counters["OutRsts"] += 1
    return True


def _ack_sent(conn: Connection, win: int) -> None:
    """Bookkeeping for any segment that carries our ACK, which offers `win` bytes
    (Linux tcp_event_ack_sent)."""
    if seq_gt(conn.rcv_nxt + win & MASK, conn.rcv_adv):
        conn.rcv_adv = (conn.rcv_nxt + win) & MASK
    conn.rcv_wup = conn.rcv_nxt
    conn.last_ack_sent = conn.rcv_nxt
    conn.delack.sent()
    if conn.t_delack != INF:
        conn.cancel_timer(TimerKind.DELACK)


# ------------------------------------------------------------------ control segments

def send_syn(conn: Connection) -> None:
    """Our SYN or SYN-ACK, with its retransmission timer and RTT timing."""
    now = conn.engine.now
    emit(conn, syn_segment(conn))
    conn.syn_stamp = now  # Linux tcp_connect (and the request's snt_synack): retrans_stamp
    conn.snd_nxt = conn.snd_max = (conn.iss + 1) & MASK
    conn.recovery.rtt_seq = conn.iss
    conn.recovery.rtt_time = now
    conn.set_timer(TimerKind.RTO, now + conn.recovery.rto)


def send_ack(conn: Connection) -> None:
    # A bare ACK carries the highest sequence number sent, not snd_nxt: after a timeout
    # snd_nxt goes back to snd_una, and an ACK numbered below what the peer has already
    # received would fail its acceptability test (BSD tcp_output; Linux's snd_nxt never
    # goes back, tcp_acceptable_seq).
    emit(conn, segment(conn, conn.snd_max, ACK))


def send_challenge_ack(conn: Connection, counter: str = "TCPChallengeACK") -> None:
    """RFC 5961 section 3.2 / 4.2 challenge ACK, rate-limited like Linux (tcp_send_challenge_ack)."""
    eng = conn.engine
    if eng.now - conn.last_oow_ack < eng.knobs.tcp_invalid_ratelimit:
        eng.counters["TCPACKSkippedChallenge"] += 1
        return
    if not eng.challenge_ack_allowed():
        return
    conn.last_oow_ack = eng.now
    eng.counters[counter] += 1
    send_ack(conn)


def send_active_rst(conn: Connection) -> None:
    """RST|ACK at the highest sequence sent, as Linux's tcp_send_active_reset (abort, linger 0,
    unread data, keepalive failure): it goes out through tcp_transmit_skb like any segment of
    the connection, with the window and the options (timestamps, SACK blocks) an ACK carries."""
    emit(conn, segment(conn, conn.snd_max, RST | ACK))


def send_probe(conn: Connection) -> None:
    """A zero-window or keepalive probe: an ACK at snd_una - 1, which the peer must answer
    (Linux tcp_xmit_probe_skb)."""
    emit(conn, segment(conn, (conn.snd_una - 1) & MASK, ACK))


# ------------------------------------------------------------------ data transmission

def transmit(conn: Connection, more: bool = False, nagle_off: bool = False, probe: bool = False,
             grow: bool = True, defer: bool = False) -> None:
    """Send what the windows, Nagle and silly-window avoidance allow (RFC 9293 section 3.8.6.2.1).

    The congestion window counts packets in flight (Linux tcp_cwnd_test: cwnd less
    tcp_packets_in_flight, so SACKed and lost segments make room: RFC 3042 limited transmit
    falls out of it). `more`: the write that calls this said MSG_MORE, so its last partial
    segment waits as under TCP_CORK (Linux tcp_push with TCP_NAGLE_CORK for that call only).
    `nagle_off`: Linux TCP_NAGLE_OFF (F-RTO's new data, a loss probe). `probe`: a loss probe,
    one packet even when cwnd is full (tcp_write_xmit's push_one == 2). `grow` False: the
    skbs a write queued at once are pushed as if one by one as it filled them (sendbatch.py),
    each then the queue's tail, which tcp_grow_skb leaves alone. `defer`: a send head of more
    than one segment may wait for the next ACK (tsodefer.py; tcp_write_xmit's push_one 0).
    """
    if conn.state not in _DATA_STATES:
        return
    eng = conn.engine
    now = eng.now
    knobs = eng.knobs
    mss = conn.mss
    tso_max = eng.tso_max
    cc = conn.recovery.cc
    buf = conn.sndbuf
    buflen = len(buf) if buf is not None else 0
    end = (conn.sndbuf_seq + buflen) & MASK
    board = conn.recovery.board
    sent_any = False
    sent_pkts = 0
    # Linux tcp_write_xmit: the segments one TSO (or GSO) packet may carry, sized once per call
    # (tcp_tso_segs: the pacing rate's autosizing, pacing.py), when a packet first needs it.
    max_segs = 0
    deferred = tsodefer.SEND
    while True:
        unsent = seq_diff(end, conn.snd_nxt)
        in_flight = seq_diff(conn.snd_nxt, conn.snd_una)
        quota = cc.cwnd - board.in_flight
        if quota <= 0 and probe:
            quota = 1  # force out a loss probe packet
        usable = min(max(quota, 0) * mss, conn.snd_wnd - in_flight)
        if probe and sent_any:
            break
        if unsent > 0:
            assert buf is not None  # unsent bytes are in the buffer
            if quota <= 0:
                break  # Linux tcp_write_xmit: no tcp_cwnd_test quota, out before tcp_grow_skb
            # MSG_EOR: no segment crosses the end of a record (Linux never collapses data into
            # an skb marked eor), and a record that is not the last goes out past Nagle, as
            # tcp_write_xmit pushes every skb but the write queue's tail.
            opts = conn.opts
            record = record_left(conn, conn.snd_nxt, unsent) if opts is not None and opts.eor else unsent
            # Nor does one cross the end of an skb (pushmarks.py), whose mark says PSH; but a send
            # head shorter than the packet cwnd allows first takes bytes from the next skb
            # (Linux tcp_write_xmit: tcp_grow_skb by cwnd_quota * mss - skb->len, cwnd_quota
            # being tcp_cwnd_test's, at most the autosized TSO segments).
            seq = conn.snd_nxt
            skb = pushmarks.index(conn, seq)
            if grow:
                if not max_segs:
                    max_segs = pacing.tso_segs(conn)
                pushmarks.grow(conn, skb, seq, max(min(cc.cwnd >> 1 or 1, quota, max_segs), 1) * mss)
            record, push = pushmarks.left(conn, skb, seq, record)
            last = record == unsent
            n = min(record, mss, usable)
            if n <= 0:
                break
            if n < mss and not nagle_off and not _small_segment_ok(conn, n, record, in_flight, more, last):
                break
            if defer and record > mss and n == mss:
                if not max_segs:
                    max_segs = pacing.tso_segs(conn)
                closes = (last and conn.fin_queued) or pushmarks.ends_record(conn, (seq + record) & MASK)
                deferred = tsodefer.should_defer(conn, seq, record, last, closes, max_segs)
                if deferred:
                    break
            if not sent_any and in_flight == 0 and knobs.tcp_slow_start_after_idle \
                    and now - cc.last_send > conn.recovery.rto:
                # Linux tcp_slow_start_after_idle_check (RFC 5681 section 4.1): idle for more
                # than an RTO, restart from a smaller window (tcp_cwnd_restart), before the
                # packet is sized.
                cc.restart(now - cc.last_send, conn.recovery.rto, knobs.tcp_init_cwnd, now)
                usable = min(cc.cwnd * mss, conn.snd_wnd)
                n = min(n, usable)
            segs_before = board.packets_out
            if n == mss:
                # As many full segments as may go now, in one packet (Linux's GSO packet, one
                # TSO segment here): the sub-MSS rest still takes the test above. A whole skb
                # that is not the last goes as one, its short tail included (Linux
                # tcp_mss_split_point cuts only the queue's tail at a multiple of the MSS).
                # The packet takes at most half of cwnd and the autosized TSO segments
                # (tcp_write_xmit: min(tcp_cwnd_test, max_segs); a loss probe with cwnd
                # full takes one, push_one == 2).
                if not max_segs:
                    max_segs = pacing.tso_segs(conn)
                # tcp_cwnd_test, inline: at most half of cwnd (and what cwnd leaves); a loss
                # probe past a full cwnd still sends one.
                cwnd = cc.cwnd
                segs = min(cwnd >> 1 or 1, cwnd - board.in_flight, max_segs)
                n = min(record, usable, (segs if segs > 1 else 1) * mss, tso_max or tso.TSO_MAX)
                if last or n < record:
                    n = n // mss * mss
            off = seq_diff(conn.snd_nxt, conn.sndbuf_seq)
            # PSH: the packet ends its skb, which is marked (tso_fragment leaves PSH on the second
            # part only), or it has more than one segment (Linux __tcp_transmit_skb forces PSH
            # on every GSO packet, to flush the receiver's GRO at once).
            flags = ACK | PSH if (push and n == record) or n > mss else ACK
            if n == unsent and conn.fin_queued:
                flags |= FIN  # the FIN rides on the last data segment, as in tcp_send_fin
            if not send_data(conn, seq, flags, buf.view(off, n)):
                break  # dropped by the local device: Linux tcp_write_xmit stops, the data waits
            pushmarks.sent(conn, skb, seq, n)
            sent_any = True
            sent_pkts += board.packets_out - segs_before
        elif conn.fin_queued and conn.snd_nxt == conn.fin_seq and quota > 0:
            if not send_data(conn, conn.snd_nxt, FIN | ACK, b""):
                break
            sent_any = True
            sent_pkts += 1
        else:
            break
    conn.recovery.after_write(conn, sent_pkts, probe)
    # Linux tcp_write_xmit's end: did the window hold the sender back (tcp_cwnd_validate)?
    limited = conn.packets_in_flight >= cc.cwnd or deferred == tsodefer.DEFER_CWND
    if sent_any or limited:
        log = conn.sendlog
        nospace = conn.orphan or (log is not None and log.nospace)
        cc.cwnd_validate(limited, conn.packets_out, conn.snd_una, conn.snd_nxt, now, conn.recovery.rto,
                         bool(knobs.tcp_slow_start_after_idle), nospace, knobs.tcp_init_cwnd)
    if conn.sendlog is not None:
        # Held back by the receiver's window: the next segment does not fit in it (Linux
        # tcp_snd_wnd_test failing in tcp_write_xmit), a test the loop reaches only with cwnd
        # quota left: a sender that filled cwnd first is not rwnd-limited (tcp_cwnd_test breaks
        # out before it).
        unsent = seq_diff(end, conn.snd_nxt)
        room = conn.snd_wnd - seq_diff(conn.snd_nxt, conn.snd_una)
        held = unsent > 0 and room < min(unsent, mss) and cc.cwnd > board.in_flight
        sendlog.after_transmit(conn, sent_any, unsent, deferred == tsodefer.DEFER_RWND or held)
    if not sent_any and seq_diff(end, conn.snd_nxt) > 0 \
            and conn.snd_nxt == conn.snd_una and conn.t_persist == INF:
        # Linux tcp_check_probe_timer: data waits and nothing in flight will bring an ACK
        # (the window is shut, or too small to be worth a segment): probe it.
        conn.set_timer(TimerKind.PERSIST, now + max(conn.recovery.rto, knobs.tcp_rto_min))


def record_left(conn: Connection, seq: int, unsent: int) -> int:
    """Bytes from `seq` to the end of its MSG_EOR record (at most `unsent`); the records that
    are all acknowledged are forgotten."""
    opts = conn.opts
    assert opts is not None
    opts.eor = tuple(end for end in opts.eor if seq_gt(end, conn.snd_una))
    for end in opts.eor:
        if seq_gt(end, seq):
            return min(seq_diff(end, seq), unsent)
    return unsent


def _small_segment_ok(conn: Connection, n: int, unsent: int, in_flight: int, more: bool = False,
                      last: bool = True) -> bool:
    """Sender SWS avoidance and Nagle (RFC 9293 section 3.8.6.2.1, RFC 1122 section 4.2.3.4).

    Nagle in Minshall's form, as Linux (tcp_nagle_check, tcp_minshall_check): a small
    segment waits only while an earlier *small* segment is unacknowledged, so a
    2000-byte write leaves at once as 1460 + 540, and a second small write waits.
    """
    if n < unsent:
        # Window-limited: send only a worthwhile part of the largest window seen.
        return n >= conn.max_snd_wnd // 2 and conn.max_snd_wnd > 0
    if not last:
        return True  # a whole MSG_EOR record with more behind it: Linux's TCP_NAGLE_PUSH
    if conn.fin_queued:
        return True
    opts = options(conn)
    if more or (opts.cork and not opts.push):
        # Linux tcp_nagle_check: a corked partial segment waits (a FIN does not), unless
        # TCP_NODELAY pushed it (tcp_nagle_test: TCP_NAGLE_PUSH first).
        return False
    if opts.nodelay or in_flight == 0:
        return True
    small_in_flight = seq_gt(conn.snd_sml, conn.snd_una) and not seq_gt(conn.snd_sml, conn.snd_nxt)
    return not small_in_flight


def _ecn_send(conn: Connection, seg: Segment, seq: int, flags: int, payload: bytes | memoryview) -> None:
    """Linux tcp_ecn_send (RFC 3168 sections 6.1.2 to 6.1.4) on a connection that agreed to ECN:
    new data is ECN-capable, ECT(0) (INET_ECN_xmit), and carries the CWR a window reduction
    queued; pure ACKs and retransmissions are not-ECT (INET_ECN_dontxmit; RFC 3168 section
    6.1.5); every segment echoes ECE until the peer's CWR (section 6.1.3)."""
    if len(payload) and not seq_lt(seq, conn.snd_max):
        seg.tos = (seg.tos & ~INET_ECN_MASK) | INET_ECN_ECT_0
        if conn.ecn_queue_cwr:
            conn.ecn_queue_cwr = False
            flags |= CWR
    else:
        seg.tos &= ~INET_ECN_MASK
    if conn.ecn_demand_cwr:
        flags |= ECE
    seg.flags = flags


def send_data(conn: Connection, seq: int, flags: int, payload: bytes | memoryview) -> bool:
    """Send new bytes starting at `seq` (snd_nxt): onto the retransmission queue, the
    transmission timer armed (Linux tcp_event_new_data_sent). False when the local device
    dropped them: they stay unsent (tcp_write_xmit stops at a failed tcp_transmit_skb)."""
    now = conn.engine.now
    rec = conn.recovery
    tx_start = len(payload) > 0 and rec.board.in_flight == 0
    if not emit_packet(conn, seq, flags, payload):
        return False
    end = (seq + len(payload) + (flags & FIN)) & MASK
    if len(payload) % conn.mss:
        conn.snd_sml = end  # Linux tcp_minshall_update: a packet with a short segment in it
    conn.snd_nxt = conn.snd_max = end
    rec.on_sent(conn, seq, end, bool(flags & FIN))
    cc = rec.cc
    if tx_start:
        cc.on_tx_start(now)  # Linux tcp_event_data_sent: CA_EVENT_TX_START, data with none in flight
    cc.last_send = now
    if conn.t_persist != INF:
        conn.cancel_timer(TimerKind.PERSIST)
    conn.delack.data_sent(now)
    return True


def emit_packet(conn: Connection, seq: int, flags: int, payload: bytes | memoryview,
                reason: str = "") -> bool:
    """One packet of data (Linux's GSO skb): one TSO segment with TSO, else the wire segments a
    GSO cut makes of it (PSH and FIN on the last), so the wire is the same either way.
    `reason`: why it is a retransmission, "" for new data."""
    mss = conn.mss
    n = len(payload)
    retransmit = bool(reason)
    if conn.engine.tso_max or n <= mss:
        seg = segment(conn, seq, flags, payload)
        if n > mss:
            seg.gso = mss
        return emit(conn, seg, retransmit, reason)
    sent = True
    for at, size, piece_flags in tso.cuts(n, mss, flags):
        piece = segment(conn, (seq + at) & MASK, piece_flags, payload[at:at + size])
        sent = emit(conn, piece, retransmit, reason) and sent
    return sent


def retransmit_syn(conn: Connection) -> None:
    """Our SYN or SYN-ACK again (its timer expired)."""
    emit(conn, syn_segment(conn, retransmit=True), retransmit=True, reason="RTO")


def resend_range(conn: Connection, seq: int, n: int, fin: bool, reason: str) -> bool:
    """Send again the `n` bytes at `seq` (and the FIN after them if `fin`), as one packet cut
    in segments of the MSS (Linux __tcp_retransmit_skb); `reason` says why (RTO, TLP, RACK,
    fast retransmit) to observers. snd_nxt stays where it is, as Linux's. False when the local
    device dropped it (tcp_transmit_skb's error)."""
    buf = conn.sndbuf
    flags = ACK
    payload: bytes | memoryview = b""
    if n:
        assert buf is not None  # n > 0 only with bytes in the buffer
        payload = buf.view(seq_diff(seq, conn.sndbuf_seq), n)
        # PSH as the skb had it: this piece ends its skb and the skb is marked (pushmarks.py;
        # tcp_fragment leaves PSH on the second part only), or the packet has more than one
        # segment (__tcp_transmit_skb forces PSH on every GSO packet, a retransmitted one too).
        left, push = pushmarks.skb_left(conn, seq, n + 1)
        if (push and left == n) or n > conn.mss:
            flags |= PSH
    if fin:
        flags |= FIN
    sent = emit_packet(conn, seq, flags, payload, reason)
    # (Linux __tcp_transmit_skb calls tcp_event_data_sent before the device answers.)
    conn.recovery.cc.last_send = conn.engine.now
    conn.delack.data_sent(conn.engine.now)
    return sent


# ------------------------------------------------------------------ ACK now or later

def schedule_ack(conn: Connection) -> None:
    """Decide now-or-later for a pending ACK (Linux __tcp_ack_snd_check, tcp_send_delayed_ack)."""
    delack = conn.delack
    if not delack.pending:
        return
    if delack.at_once or ack_due(conn):
        send_ack(conn)
        return
    eng = conn.engine
    deadline = eng.now + delack.delay(eng.knobs, conn.recovery.srtt)
    if deadline < conn.t_delack:
        conn.set_timer(TimerKind.DELACK, deadline)


def ack_due(conn: Connection) -> bool:
    """ACK at once: more than one full segment unacknowledged with the window not shrinking,
    quick-ACK mode, or out-of-order data waiting (Linux __tcp_ack_snd_check)."""
    if seq_diff(conn.rcv_nxt, conn.rcv_wup) > conn.rcv_mss and \
            conn.rwin.select(conn) >= seq_diff(conn.rcv_adv, conn.rcv_wup):
        return True
    delack = conn.delack
    if delack.quick and not delack.pingpong:  # delack.in_quickack_mode, inline: once per segment
        return True
    return conn.rcvbuf is not None and bool(conn.rcvbuf.ooo)


def enter_quickack(conn: Connection) -> None:
    """Linux tcp_enter_quickack_mode: ACK the next few segments at once (rcv_wnd / 2 MSS, 2..16)."""
    conn.delack.enter_quickack(window_space(conn) // (2 * conn.rcv_mss) or 2, conn.engine.knobs)


def flush(conn: Connection) -> None:
    """After a user call: send what it made possible, and any ACK it made due."""
    if conn.state not in DONE:
        transmit(conn)
        schedule_ack(conn)
