"""The receiving half of a connection: SEGMENT ARRIVES (RFC 9293 section 3.10.7).

The order of checks is the RFC's (sequence, RST, SYN, ACK, data, FIN) with the
hardening of RFC 5961 and RFC 7323, and Linux's choices where the RFC leaves
room (tcp_input.c: tcp_validate_incoming, tcp_ack, tcp_data_queue, tcp_fin).

Module functions over a `Connection`, as Linux's tcp_input.c is over a tcp_sock:
`tcp_input` is the one entry, the steps below it follow the RFC's order. The
receive window's bounds and their autotuning are the `rcvwindow` part's, when
to ACK is the `delack` part's, what the ACK field does to the sender is `ack`'s
(and what a duplicate or new ACK means for loss recovery the `recovery` part's);
what goes out is `output`'s.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..wire.segment import ACK, CWR, ECE, FIN, RST, SYN, Segment
from . import output
from .ack import tcp_ack
from .family import ip_tcp_headers
from .observer import note_drop
from .recvbuf import RecvBuffer
from .reset import reset_for
from .seq import MASK, seq_diff, seq_ge, seq_gt, seq_le, seq_lt
from .sockopts import options, set_keepalive
from .states import DONE, Event, State
from .timers import TimerKind

if TYPE_CHECKING:
    from .connection import Connection

# Plain names for the states the per-segment path tests: `State.X` costs an Enum attribute
# lookup (~80 ns on 3.11) where a module global costs ~13 ns.
_SYN_SENT, _SYN_RECEIVED, _ESTABLISHED = State.SYN_SENT, State.SYN_RECEIVED, State.ESTABLISHED
_FIN_IN = frozenset({State.CLOSE_WAIT, State.CLOSING, State.LAST_ACK})  # the peer's FIN came already
_FIN_WAITS = frozenset({State.FIN_WAIT_1, State.FIN_WAIT_2})
# Linux tcp_reset(): the error the application sees when an RST ends the connection.
_RESET_ERRNO = {State.SYN_SENT: errno.ECONNREFUSED, State.CLOSE_WAIT: errno.EPIPE}
# Linux TCP_TIMEOUT_MIN: 2 jiffies, 8 ms at HZ=250 (the Debian and Ubuntu kernels' HZ).
_TCP_TIMEOUT_MIN = 0.008
_INET_ECN_MASK = 0x03  # the ECN field of the IP TOS byte (RFC 3168 section 5)


def tcp_input(conn: Connection, seg: Segment) -> None:
    """Process one arriving segment, then send what it made due."""
    if conn.state == _SYN_SENT:
        _syn_sent(conn, seg)
    else:
        _synchronized(conn, seg)
    if conn.state not in DONE:
        output.transmit(conn, defer=True)  # Linux tcp_data_snd_check: tcp_push_pending_frames
        output.schedule_ack(conn)


# ------------------------------------------------------------------ LISTEN (3.10.7.2)

def passive_open(conn: Connection, syn: Segment, isn: int | None = None) -> None:
    """A listener's SYN became this connection: answer SYN-ACK (RFC 9293 section 3.10.7.2).

    `isn` is set when a SYN reuses a TIME_WAIT pair (Linux: snd_nxt + 65537).
    """
    accept_syn(conn, syn, isn)
    conn.set_state(Event.RCV_SYN, born_in=State.LISTEN)
    output.send_syn(conn)


def accept_syn(conn: Connection, syn: Segment, isn: int | None = None) -> None:
    """The block of a connection opened by `syn`, before its state changes: sequence numbers,
    negotiated options, ECN, the peer's window (Linux tcp_openreq_init and
    tcp_create_openreq_child). A SYN cookie's SYN-ACK and connection are made from it too."""
    if isn is not None:
        conn.start_seq(isn)
    conn.irs = syn.seq
    conn.rcv_nxt = conn.rcv_wup = conn.rcv_adv = conn.last_ack_sent = (syn.seq + 1) & MASK
    conn.rwin.init(conn)
    negotiate(conn, syn)
    # RFC 3168 section 6.1.1, Linux tcp_ecn_create_request: an ECN-setup SYN (ECE and CWR)
    # that is not itself ECN-capable (no ECT in its IP header) is accepted unless tcp_ecn=0.
    conn.ecn_ok = bool(conn.engine.knobs.tcp_ecn) and syn.flags & (ECE | CWR) == ECE | CWR \
        and not syn.tos & _INET_ECN_MASK
    conn.snd_wnd = conn.max_snd_wnd = syn.window
    conn.snd_wl1 = syn.seq


# ------------------------------------------------------------------ SYN-SENT (3.10.7.3)

def _syn_sent(conn: Connection, seg: Segment) -> None:
    flags = seg.flags
    if flags & ACK and (seq_le(seg.ack, conn.iss) or seq_gt(seg.ack, conn.snd_max)):
        if not flags & RST:
            output.emit(conn, reset_for(seg))  # type: ignore[arg-type]
        if not conn.recovery.retransmits:
            # Linux tcp_rcv_synsent_state_process: "previous FIN/ACK or RST/ACK might be
            # ignored", so the SYN goes out again soon instead of after the full RTO.
            conn.set_timer(TimerKind.RTO, conn.engine.now + _TCP_TIMEOUT_MIN)
        note_drop(conn, seg, "unacceptable ACK in SYN-SENT")
        return
    if flags & RST:
        if flags & ACK:
            conn.drop(Event.RCV_RST, errno.ECONNREFUSED, "connection refused")
        else:
            note_drop(conn, seg, "RST without ACK in SYN-SENT")
        return
    if not flags & SYN:
        note_drop(conn, seg, "no SYN in SYN-SENT")
        return
    conn.irs = seg.seq
    conn.rcv_nxt = conn.rcv_wup = conn.rcv_adv = conn.last_ack_sent = (seg.seq + 1) & MASK
    negotiate(conn, seg)
    # RFC 3168 section 6.1.1: ECN holds if the SYN-ACK has ECE without CWR (Linux
    # tcp_ecn_rcv_synack), or a crossing SYN has both (tcp_ecn_rcv_syn).
    ecn = seg.flags & (ECE | CWR)
    conn.ecn_ok = conn.ecn_ok and ecn == (ECE if flags & ACK else ECE | CWR)
    conn.snd_wnd = seg.window  # RFC 7323 section 2.2: a SYN's window is never scaled
    conn.max_snd_wnd = conn.snd_wnd
    conn.snd_wl1, conn.snd_wl2 = seg.seq, seg.ack
    conn.delack.pending = True
    if flags & ACK:
        _syn_acked(conn, seg.ack)
        _init_transfer_cwnd(conn, seg)
        conn.set_state(Event.RCV_SYN_ACK)
        conn.delack.at_once = True
        if options(conn).keepalive:
            set_keepalive(conn, True)
        if len(seg.payload) or flags & FIN:
            _input_data(conn, seg)
    else:
        # Simultaneous open (RFC 9293 figure 8): answer with SYN-ACK on our own ISN.
        conn.set_state(Event.RCV_SYN)
        conn.delack.pending = False
        output.emit(conn, output.syn_segment(conn), retransmit=True)


def negotiate(conn: Connection, syn: Segment) -> None:
    """Options from the peer's SYN or SYN-ACK (RFC 9293 section 3.7.1, RFC 7323, RFC 2018)."""
    knobs = conn.engine.knobs
    conn.ts_ok = conn.ts_ok and syn.ts_val is not None
    if conn.ts_ok:
        conn.ts_recent = syn.ts_val or 0
    conn.wscale_ok = conn.wscale_ok and syn.wscale is not None
    if conn.wscale_ok:
        conn.snd_wscale = min(syn.wscale or 0, 14)  # RFC 7323 section 2.3
    else:
        conn.snd_wscale = conn.rcv_wscale = 0
        conn.rwin.no_scaling()
    conn.sack_ok = conn.sack_ok and syn.sack_permitted
    peer_mss = syn.mss if syn.mss else 536  # RFC 9293 section 3.7.1
    # The link's MSS unless ICMP lowered the path MTU.
    mss = min(peer_mss, conn.pmtu - ip_tcp_headers(conn.laddr))
    user_mss = options(conn).user_mss
    if user_mss:
        mss = min(mss, user_mss)
    if conn.ts_ok:
        mss -= 12  # the timestamp option rides on every segment (RFC 7323 section 3)
    conn.mss = max(mss, 64)
    conn.recovery.board.set_mss(conn.mss)
    conn.rcv_mss = min(conn.advmss, conn.mss + (12 if conn.ts_ok else 0), 536)
    # Linux tcp_init_transfer: tcp_init_cwnd segments, lsndtime now ("prevent spurious
    # tcp_cwnd_restart() on first data packet"), and the algorithm's init (ca_ops->init).
    cc = conn.recovery.cc
    cc.cwnd = knobs.tcp_init_cwnd
    cc.last_send = cc.cwnd_stamp = conn.engine.now
    cc.init(conn.engine.now)


def _init_transfer_cwnd(conn: Connection, seg: Segment) -> None:
    """Linux tcp_init_transfer: "cut cwnd down to 1 per RFC5681 if SYN or SYN-ACK has been
    retransmitted", more than once (`tp->total_retrans > 1 && tp->undo_marker`; RFC 6298's 1 s
    initial RTO makes one retransmission likely). The timeout was spurious, and the marker
    cleared, when the ACK echoes our first SYN's timestamp (tcp_try_undo_spurious_syn)."""
    if conn.total_retrans <= 1:
        return
    first_tsval = (int(conn.syn_stamp * 1000) + conn.ts_offset) & MASK
    if conn.ts_ok and seg.ts_ecr == first_tsval:
        return
    conn.recovery.cc.cwnd = 1


def _syn_acked(conn: Connection, ack: int) -> None:
    """Our SYN is acknowledged: stop its timer, take an RTT sample unless it was resent (Karn)."""
    conn.snd_una = ack
    if seq_lt(conn.snd_nxt, ack):
        conn.snd_nxt = ack
    if conn.recovery.retransmits == 0 and conn.recovery.rtt_time is not None:
        conn.recovery.sample_rtt(conn.engine.now - conn.recovery.rtt_time, conn.engine.knobs)
    conn.recovery.rtt_time = None
    conn.recovery.retransmits = 0
    conn.cancel_timer(TimerKind.RTO)
    # Linux tcp_finish_connect / tcp_create_openreq_child: the time since data came in
    # (TCP_INFO's last_data_recv, the ATO estimate) counts from the handshake's end.
    conn.delack.lrcvtime = conn.engine.now


# ------------------------------------------------------------------ synchronized states (3.10.7.4)

def _synchronized(conn: Connection, seg: Segment) -> None:
    flags = seg.flags
    eng = conn.engine
    # RFC 7323 section 5.3: PAWS rejects segments carrying an old timestamp.
    if conn.ts_ok and seg.ts_val is not None and not flags & RST and conn.ts_recent \
            and (seg.ts_val - conn.ts_recent) & 0x80000000:
        eng.counters["PAWSEstabRejected"] += 1
        note_drop(conn, seg, "PAWS: old timestamp")
        send_dupack(conn, seg, "TCPACKSkippedPAWS")
        return
    # First: is the segment in the window?
    if not _acceptable(conn, seg):
        if flags & RST and _reset_check(conn, seg):
            # Linux tcp_validate_incoming -> tcp_reset_check: once the peer's FIN is in, its
            # RST may carry the sequence number of that FIN (RCV.NXT - 1), below the window.
            conn.drop(Event.RCV_RST, _RESET_ERRNO.get(conn.state, errno.ECONNRESET),
                      "connection reset by peer")
            return
        note_drop(conn, seg, "outside the receive window")
        if not flags & RST:
            if flags & SYN:
                eng.counters["TCPSYNChallenge"] += 1
                output.send_challenge_ack(conn)
            else:
                if not seq_lt((seg.seq + seg.seg_len) & MASK, conn.rcv_wup):
                    eng.counters["BeyondWindow"] += 1  # Linux tcp_validate_incoming, not for old ones
                send_dupack(conn, seg)
        return
    # Second: RST (RFC 5961 section 3.2).
    if flags & RST:
        _input_rst(conn, seg)
        return
    # Fourth: SYN.
    if flags & SYN:
        if conn.state == State.SYN_RECEIVED and seg.seq == conn.irs and not flags & ACK:
            _resend_synack(conn)
            return
        if conn.state == State.SYN_RECEIVED and conn.listener is not None and seg.seq != conn.irs:
            # Linux tcp_check_req: a different SYN in the window resets the half-open
            # connection ("fourth, check the SYN bit" of RFC 793; no RFC 5961 challenge there).
            output.emit(conn, reset_for(seg))  # type: ignore[arg-type]
            eng.counters["EmbryonicRsts"] += 1  # (tcp_check_req's embryonic_reset, as reqsk.py's)
            conn.drop(Event.RCV_SYN_IN_WINDOW, reason="SYN in SYN-RECEIVED")
            return
        if not (conn.state == State.SYN_RECEIVED and conn.listener is None and flags & ACK
                and seg.seq == conn.irs and seg.ack == conn.snd_nxt):
            if eng.knobs.tcp_insecure_syn and seq_ge(seg.seq, conn.rcv_nxt):
                # RFC 793 page 71, "fourth, check the SYN bit": a SYN in the window (its own
                # sequence number, not just its end, as Linux's tcp_sequence takes it) is an
                # error; send a reset, report "connection reset", enter CLOSED.
                note_drop(conn, seg, "SYN on a synchronized connection (insecure: reset)")
                output.send_active_rst(conn)
                conn.drop(Event.RCV_SYN_IN_WINDOW, errno.ECONNRESET,
                          "SYN in the window (tcp_insecure_syn)")
                return
            # RFC 5961 section 4.2: a SYN on a synchronized connection earns a challenge ACK.
            eng.counters["TCPSYNChallenge"] += 1
            note_drop(conn, seg, "SYN on a synchronized connection")
            output.send_challenge_ack(conn)
            return
        # Simultaneous open: the peer's SYN-ACK acknowledges our SYN. Linux lets it through
        # to the ACK processing below (tcp_validate_incoming) instead of challenging it, and
        # ACKs it at once as an old segment (its SYN is already counted in rcv_nxt).
        conn.delack.owe_at_once()
    # Fifth: ACK.
    if not flags & ACK:
        note_drop(conn, seg, "no ACK")
        return
    conn.last_recv = eng.now
    if conn.state == _SYN_RECEIVED and not _syn_received_ack(conn, seg):
        return
    if not tcp_ack(conn, seg):
        return
    if conn.state in DONE:
        return
    if conn.ts_ok and seg.ts_val is not None and seq_le(seg.seq, conn.last_ack_sent):
        conn.ts_recent = seg.ts_val  # RFC 7323 section 4.3
    if conn.ts_ok and seg.ts_ecr is not None and conn.state == _ESTABLISHED:
        conn.rwin.measure_ts(conn, seg)
    if conn.ecn_ok:
        _ecn_input(conn, seg)
    # Seventh and eighth: data and FIN.
    if len(seg.payload) or flags & FIN:
        _input_data(conn, seg)


def _resend_synack(conn: Connection) -> None:
    """A duplicate SYN in SYN-RECEIVED: the peer did not hear our SYN-ACK (Linux tcp_check_req).

    Sent again at most once per tcp_invalid_ratelimit, and the SYN-ACK timer
    restarts from now, as after a fast retransmit.
    """
    eng = conn.engine
    if eng.now - conn.last_oow_ack < eng.knobs.tcp_invalid_ratelimit:
        eng.counters["TCPACKSkippedSynRecv"] += 1
        return
    conn.last_oow_ack = eng.now
    output.emit(conn, output.syn_segment(conn), retransmit=True)
    conn.set_timer(TimerKind.RTO, eng.now + conn.recovery.rto)


def _acceptable(conn: Connection, seg: Segment) -> bool:
    """RFC 9293 section 3.10.7.4 acceptability, in Linux's form (tcp_sequence, 6.18):
    not wholly before what we last acknowledged, not starting beyond the window, and
    not ending beyond it either unless the receive queue is empty.

    A segment that runs past the window is taken whole only when no unread data waits
    (Linux 6.16 "tcp: do not accept packets beyond window": a receiver that has
    nothing queued can afford it, and a sender probing a small window makes progress);
    otherwise it is dropped and answered with a duplicate ACK. A FIN is let past the
    right edge when its data fits (Linux 6.18: "Some stacks are known to handle FIN
    incorrectly").
    """
    end = (seg.seq + seg.seg_len) & MASK
    if seq_lt(end, conn.rcv_wup):
        return False
    limit = (conn.rcv_nxt + max(seq_diff(conn.rcv_adv, conn.rcv_nxt), 0)) & MASK
    if not seq_gt(end, limit):
        return True
    if seg.flags & FIN and not seq_gt((end - 1) & MASK, limit):
        return True
    if seq_gt(seg.seq, limit):
        return False
    rcvbuf = conn.rcvbuf
    return rcvbuf is None or not len(rcvbuf)


def _input_rst(conn: Connection, seg: Segment) -> None:
    """RFC 5961 section 3.2: reset only at exactly rcv_nxt, otherwise a challenge ACK.

    Linux also takes rcv_nxt - 1 once our side has consumed the peer's FIN (tcp_reset_check),
    and any in-window RST for a connection still in the SYN queue (tcp_check_req).
    """
    exact = seg.seq == conn.rcv_nxt or _reset_check(conn, seg) or (
        # A listener's half-open connection is Linux's request sock: tcp_check_req takes any
        # RST in the window (RFC 5961 challenge ACKs are for full sockets only).
        conn.state == State.SYN_RECEIVED and conn.listener is not None
    )
    if not exact and not conn.engine.knobs.tcp_insecure_rst:
        note_drop(conn, seg, "RST not at rcv_nxt (RFC 5961)")
        output.send_challenge_ack(conn)
        return
    if conn.state == State.SYN_RECEIVED and conn.listener is not None:
        conn.engine.counters["EmbryonicRsts"] += 1  # (tcp_check_req's embryonic_reset, as reqsk.py's)
        conn.drop(Event.RCV_RST, reason="RST in SYN-RECEIVED: back to LISTEN")
        return
    conn.drop(Event.RCV_RST, _RESET_ERRNO.get(conn.state, errno.ECONNRESET), "connection reset by peer")


def _reset_check(conn: Connection, seg: Segment) -> bool:
    """Linux tcp_reset_check: at RCV.NXT - 1, an RST after the peer's FIN still counts."""
    return conn.state in _FIN_IN \
        and seg.seq == (conn.rcv_nxt - 1) & MASK


def _syn_received_ack(conn: Connection, seg: Segment) -> bool:
    """The handshake's third segment (RFC 9293 section 3.10.7.4, fifth, SYN-RECEIVED)."""
    ack = seg.ack
    if not (seq_lt(conn.snd_una, ack) and seq_le(ack, conn.snd_max)):
        note_drop(conn, seg, "unacceptable ACK in SYN-RECEIVED")
        output.emit(conn, reset_for(seg))  # type: ignore[arg-type]
        return False
    listener = conn.listener
    opts = conn.opts
    if listener is not None and opts is not None and conn.recovery.retransmits < opts.defer_accept \
            and seg.seq == conn.rcv_nxt and not seg.payload and not seg.flags & FIN:
        # TCP_DEFER_ACCEPT: a bare ACK does not complete the handshake; the request waits for
        # data (Linux tcp_check_req: TCPDeferAcceptDrop, inet_rsk(req)->acked).
        opts.defer_acked = True
        conn.engine.counters["TCPDeferAcceptDrop"] += 1
        note_drop(conn, seg, "TCP_DEFER_ACCEPT: a bare ACK, waiting for data")
        return False
    if listener is not None and listener.accept_queue_full():
        eng = conn.engine
        eng.counters["ListenOverflows"] += 1
        eng.counters["ListenDrops"] += 1
        if eng.knobs.tcp_abort_on_overflow:
            output.emit(conn, reset_for(seg))  # type: ignore[arg-type]
            conn.drop(Event.ACCEPT_QUEUE_FULL, reason="accept queue full (tcp_abort_on_overflow)")
        else:
            # Linux: drop the ACK; our SYN-ACK timer will ask again later.
            note_drop(conn, seg, "accept queue full")
        return False
    _syn_acked(conn, ack)
    _init_transfer_cwnd(conn, seg)
    conn.snd_wnd = seg.window << conn.snd_wscale
    conn.max_snd_wnd = max(conn.max_snd_wnd, conn.snd_wnd)
    conn.snd_wl1, conn.snd_wl2 = seg.seq, ack
    conn.set_state(Event.RCV_ACK_OF_SYN)
    conn.pacing.update(conn)  # Linux tcp_rcv_state_process, TCP_SYN_RECV: tcp_update_pacing_rate
    if listener is not None:
        conn.engine.counters["PassiveOpens"] += 1
        listener.established(conn)
    if options(conn).keepalive:
        set_keepalive(conn, True)
    return True


# ------------------------------------------------------------------ data and FIN (seventh, eighth)

def _input_data(conn: Connection, seg: Segment) -> None:
    eng = conn.engine
    state = conn.state
    payload = seg.payload
    seq = seg.seq
    fin = seg.flags & FIN
    end = (seq + len(payload)) & MASK
    if state in _FIN_IN:
        # The peer's FIN came already: anything new is ignored, an old copy re-ACKed
        # with a D-SACK for it (Linux: tcp_rcv_state_process falls through to tcp_data_queue).
        if seq_lt(seq, conn.rcv_nxt):
            dsack_old(conn, seq, (end + (1 if fin else 0)) & MASK)
            conn.delack.owe_at_once()
        return
    if conn.shut_rd and state in _FIN_WAITS and len(payload) \
            and seq_gt(end, conn.rcv_nxt):
        # RFC 1122 section 4.2.2.13 / Linux: new data for a closed reader is answered with RST.
        eng.counters["TCPAbortOnData"] += 1
        output.emit(conn, reset_for(seg))  # type: ignore[arg-type]
        conn.drop(Event.RCV_DATA_AFTER_CLOSE, errno.ECONNRESET, "data after close")
        return
    window = max(seq_diff(conn.rcv_adv, conn.rcv_nxt), 0)
    start = seq_diff(seq, conn.rcv_nxt)
    if len(payload):
        if seq_le(end, conn.rcv_nxt) and not (fin and end == conn.rcv_nxt):
            # A retransmission of what we already have: our ACK was probably lost. ACK at once
            # and leave ping-pong mode for quick-ACK mode (Linux tcp_data_queue ->
            # tcp_enter_quickack_mode), so the next segments are not held back either.
            eng.counters["DelayedACKLost"] += 1
            dsack_old(conn, seq, (end + (1 if fin else 0)) & MASK)  # RFC 2883 section 4
            output.enter_quickack(conn)
            conn.delack.pingpong = False
            conn.delack.owe_at_once()
            return
        if window == 0 and start >= 0:
            eng.counters["TCPZeroWindowDrop"] += 1
            note_drop(conn, seg, "receive window is zero")
            _out_of_window(conn)
            return
        if start >= window:
            # At the right edge (tcp_sequence let it through into an empty queue): Linux
            # tcp_data_queue's "Out of window. F.e. zero window probe." drops it.
            note_drop(conn, seg, "beyond the receive window")
            _out_of_window(conn)
            return
        if window == 0:
            # Partial packet at a zero window: its old head is reported (D-SACK), its new
            # tail dropped (tcp_data_queue: "If window is closed, drop tail of packet").
            eng.counters["TCPZeroWindowDrop"] += 1
            payload = payload[:-start]
            fin = 0
        # Otherwise the segment is kept whole, even past the window: tcp_sequence took it
        # only into an empty queue, and Linux's tcp_data_queue does not trim (the buffer
        # has room for it: tcp_try_rmem_schedule, forced when the queue is empty).
        if conn.rcvbuf is None:
            conn.rcvbuf = RecvBuffer(conn.engine.counters)
        had_ooo = bool(conn.rcvbuf.ooo) or conn.fin_beyond_hole
        ooo_bytes = conn.rcvbuf.ooo_bytes
        advanced = conn.rcvbuf.add(conn.rcv_nxt, seq, payload, _dsack_on(conn))
        conn.delack.pending = True
        if start > 0:
            eng.counters["TCPOFOQueue"] += 1
            conn.delack.at_once = True  # RFC 5681 section 4.2: out-of-order data is ACKed at once
            if conn.sack_ok and conn.rcvbuf.ooo_bytes > ooo_bytes:
                # Linux tcp_data_queue_ofo, for a segment that brought new bytes; without SACK
                # the window stays put, so that the sender sees duplicate ACKs (a window
                # change would not count as one).
                conn.rwin.grow(conn, len(payload))
        if advanced:
            conn.rcv_nxt = (conn.rcv_nxt + advanced) & MASK
            _data_received(conn, seg.gso or len(payload))  # Linux: gso_size ?: skb->len
            conn.rwin.on_data(conn, len(payload))
            if had_ooo:
                conn.delack.at_once = True  # a hole filled (RFC 5681 section 4.2)
            eng.wake(conn)
    if fin:
        fin_seq = (seq + len(payload)) & MASK
        if seq_ge(fin_seq, conn.rcv_nxt):
            conn.rcv_fin_seq = fin_seq
            if conn.fin_beyond_hole and conn.sack_ok:
                if conn.rcvbuf is None:
                    conn.rcvbuf = RecvBuffer(conn.engine.counters)
                conn.rcvbuf.note_fin(fin_seq)
        else:
            dsack_old(conn, fin_seq, (fin_seq + 1) & MASK)  # a FIN we had already
            conn.delack.owe_at_once()
    if conn.rcv_fin_seq is not None:
        if conn.rcv_fin_seq == conn.rcv_nxt:
            _fin_received(conn)
        else:
            conn.delack.pending = conn.delack.at_once = True


def _out_of_window(conn: Connection) -> None:
    """Linux tcp_data_queue's out_of_window: drop the data, ACK at once and enter quick-ACK
    mode (tcp_enter_quickack_mode, which also leaves ping-pong mode) to show the window."""
    output.enter_quickack(conn)
    conn.delack.pingpong = False
    conn.delack.owe_at_once()


def _data_received(conn: Connection, length: int) -> None:
    """Linux tcp_measure_rcv_mss, then tcp_event_data_recv: the segment size seen, and the
    delayed-ACK timing (ATO estimate, quick-ACK entry)."""
    small = False
    if length > conn.rcv_mss:
        conn.rcv_mss = min(length, conn.advmss)
    elif length < conn.rcv_mss:
        small = True  # the sender pushed what it had (ICSK_ACK_PUSHED, then PUSHED2)
    eng = conn.engine
    if conn.delack.on_data(small, eng.now, eng.knobs, conn.recovery.rto):
        output.enter_quickack(conn)


# ------------------------------------------------------------------ ECN and D-SACK

def send_dupack(conn: Connection, seg: Segment, skipped: str = "TCPACKSkippedSeq") -> None:
    """An immediate ACK for an unacceptable segment (RFC 9293 section 3.10.7.4).

    Rate-limited per tcp_invalid_ratelimit only for segments without data (or with SYN),
    which could be part of an ACK loop; data always gets its answer (Linux
    tcp_oow_rate_limited), or a sender whose ACKs were lost would wait for nothing.
    """
    eng = conn.engine
    if not (len(seg.payload) or seg.flags & FIN) or seg.flags & SYN:
        if eng.now - conn.last_oow_ack < eng.knobs.tcp_invalid_ratelimit:
            eng.counters[skipped] += 1
            return
        conn.last_oow_ack = eng.now
    elif seq_lt(seg.seq, conn.rcv_nxt):
        # Linux tcp_send_dupack: an old segment with data (or FIN) means our ACK was lost
        # (DelayedACKLost, quick-ACK mode), and is reported in a D-SACK block, clipped to
        # rcv_nxt (RFC 2883 section 4).
        eng.counters["DelayedACKLost"] += 1
        output.enter_quickack(conn)
        dsack_old(conn, seg.seq, (seg.seq + seg.seg_len) & MASK)
    output.send_ack(conn)


def _ecn_input(conn: Connection, seg: Segment) -> None:
    """The receiver's half of RFC 3168 section 6.1.3 (Linux tcp_ecn_accept_cwr, tcp_data_ecn_check).

    The peer's CWR ends our ECE echo; a Congestion Experienced mark on its data starts it,
    with an ACK at once. (The sender's half, ECT on data and the reduction on ECE, is in
    output._ecn_send and recovery.Recovery.enter_cwr.)
    """
    if seg.flags & CWR:
        conn.ecn_demand_cwr = False
        if len(seg.payload):
            conn.delack.at_once = True  # its cwnd may be one segment: do not hold the ACK back
    if len(seg.payload) and seg.tos & 0x03 == 0x03 and not conn.ecn_demand_cwr:
        conn.ecn_demand_cwr = True
        conn.delack.at_once = True


def _dsack_on(conn: Connection) -> bool:
    """D-SACK (RFC 2883) is sent when SACK was negotiated and tcp_dsack is on (Linux tcp_dsack_set)."""
    return conn.sack_ok and bool(conn.engine.knobs.tcp_dsack)


def dsack_old(conn: Connection, seq: int, end: int) -> None:
    """Report a duplicate below rcv_nxt, clipped to rcv_nxt (Linux tcp_data_queue, tcp_send_dupack);
    counted TCPDSACKOldSent."""
    if not _dsack_on(conn) or not seq_lt(seq, conn.rcv_nxt):
        return
    if conn.rcvbuf is None:
        conn.rcvbuf = RecvBuffer(conn.engine.counters)
    conn.rcvbuf.dsack_set(seq, end if seq_lt(end, conn.rcv_nxt) else conn.rcv_nxt, conn.rcv_nxt)


def _fin_received(conn: Connection) -> None:
    """The peer's FIN is in order (RFC 9293 section 3.10.7.4, eighth; Linux tcp_fin)."""
    conn.rcv_fin_seq = None
    conn.fin_rcvd = True
    conn.rcv_nxt = (conn.rcv_nxt + 1) & MASK
    if conn.rcvbuf is not None:
        conn.rcvbuf.fin_reached()
    conn.delack.pending = True
    state = conn.state
    if state in (State.ESTABLISHED, State.SYN_RECEIVED):
        conn.set_state(Event.RCV_FIN)
        # Linux delays this ACK hoping the application closes soon and the FIN carries it:
        # that is why captures often show three segments for a close.
        conn.delack.pingpong = True
    elif state == State.FIN_WAIT_1:
        conn.delack.at_once = True
        conn.set_state(Event.RCV_FIN)
    elif state == State.FIN_WAIT_2:
        output.send_ack(conn)
        conn.enter_time_wait(Event.RCV_FIN)
    conn.engine.wake(conn)
