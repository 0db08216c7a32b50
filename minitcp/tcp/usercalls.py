"""The application's calls on a connection (RFC 9293 sections 3.10.1 to 3.10.6; Linux
tcp_v4_connect, tcp_sendmsg, tcp_recvmsg, tcp_shutdown, tcp_close).

Module functions over a `Connection`; the connection's methods of the same names
(`conn.send(data, now)`, ...) are the socket layer's API and call these. Each is
given the time of the call, which the engine keeps while the call runs.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from . import output, pushmarks, sendbatch, sendlog, wmem
from .bytequeue import ByteQueue
from .seq import MASK, seq_diff
from .sockopts import apply_option, end_record, options
from .states import DONE, Event, State
from .timers import INF, TimerKind

if TYPE_CHECKING:
    from .connection import Connection

SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2
# Writes shorter than this are copied together into the send buffer's tail: an application that
# writes a few bytes at a time leaves a few pieces, not one per write (a segment may need many).
SEND_COALESCE = 16384
_CAN_SEND = frozenset({State.SYN_SENT, State.SYN_RECEIVED, State.ESTABLISHED, State.CLOSE_WAIT})
_CAN_QUEUE_FIN = frozenset({State.SYN_RECEIVED, State.ESTABLISHED, State.CLOSE_WAIT})
_READ_ACKS = frozenset({State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2})  # a read may owe an ACK


def open_active(conn: Connection) -> None:
    """Active open (RFC 9293 section 3.10.1): send our SYN."""
    conn.engine.counters["ActiveOpens"] += 1
    # Linux tcp_ecn_send_syn: only tcp_ecn=1 asks for ECN on an outgoing SYN.
    conn.ecn_ok = conn.engine.knobs.tcp_ecn == 1
    conn.rwin.init(conn)
    conn.set_state(Event.ACTIVE_OPEN)
    output.send_syn(conn)


def send(conn: Connection, data: bytes | memoryview, now: float, more: bool = False,
         eor: bool = False) -> int:
    """Queue bytes for sending (RFC 9293 section 3.10.2) at time `now`; returns how many were taken.

    Returns 0 while the buffer is full or the handshake is still under way.
    Raises OSError(EPIPE) after shutdown(SHUT_WR) or close, the pending
    error (ECONNRESET, ETIMEDOUT, ...) once the connection has failed.
    """
    conn.engine.begin_call(now)
    if conn.error:
        raise OSError(conn.take_error(), "connection failed")
    if conn.shut_wr or conn.state not in _CAN_SEND:
        raise OSError(errno.EPIPE, "cannot send after the write side is shut down")
    room = wmem.copy_room(conn)
    if room <= 0 or not data:
        if data:
            sendlog.no_room(conn)
        return 0
    if conn.sndbuf is None:
        conn.sndbuf = ByteQueue(SEND_COALESCE)
    # Queue and send in turns, an skb at a time, as Linux's tcp_sendmsg pushes each skb it fills
    # (tcp_push_one, or all of the queue on a forced push): what leaves makes room under
    # TCP_NOTSENT_LOWAT, and the packets cut from an skb count in sk_wmem_queued (wmem.py).
    # But the skbs that would each leave whole as they are filled go in one turn (sendbatch.py).
    run = sendbatch.run_bytes(conn, len(data)) if len(data) > room else 0
    grow = run <= room
    if not grow:
        room = run
    taken = 0
    while True:
        rest = memoryview(data)[taken:] if taken else data
        chunk = rest if len(rest) <= room else memoryview(rest)[:room]
        sendlog.data_queued(conn, seq_diff((conn.sndbuf_seq + len(conn.sndbuf)) & MASK, conn.snd_nxt))
        opts = options(conn)
        if opts.push and (conn.sndbuf_seq + len(conn.sndbuf)) & MASK == conn.snd_nxt:
            # Nothing unsent to add to: Linux starts a new skb, and skb_entail ends TCP_NAGLE_PUSH.
            opts.push = False
        start = (conn.sndbuf_seq + len(conn.sndbuf)) & MASK
        conn.sndbuf.append(chunk)
        pushmarks.queued(conn, start, len(chunk), first=not taken)
        taken += len(chunk)
        if taken == len(data):
            pushmarks.push(conn, more, eor)
            if eor:
                # MSG_EOR: the record ends with this write, once all of it is queued (Linux
                # tcp_sendmsg marks the tail skb eor only when no data is left).
                end_record(conn, (conn.sndbuf_seq + len(conn.sndbuf)) & MASK)
            output.transmit(conn, more, grow=grow)
            return taken
        recovery = conn.recovery
        if recovery.cc.cwnd > recovery.board.in_flight:
            # With cwnd full nothing may leave (tcp_cwnd_test): the ACKs send it.
            output.transmit(conn, grow=grow)
            grow = True
        room = wmem.copy_room(conn)
        if room <= 0:
            # The rest waits for room (SOCK_NOSPACE): Linux's wait_for_space pushes what the
            # write queued, with tcp_push and never MSG_MORE.
            sendlog.no_room(conn)
            pushmarks.push(conn, False, False)
            output.transmit(conn)
            return taken


def recv(conn: Connection, n: int, now: float, peek: bool = False) -> bytes | None:
    """Take up to n bytes (RFC 9293 section 3.10.3) at time `now` (a read may send an ACK).

    b"" means end of stream (the peer's FIN, or shutdown(SHUT_RD)), None means
    nothing yet. A pending error is raised once the queued bytes are read.
    """
    conn.engine.begin_call(now)
    buf = conn.rcvbuf
    if buf is not None and len(buf):
        data = buf.read(n, peek)
        if not peek:
            conn.rwin.space_adjust(conn, len(data))
            _data_consumed(conn)
        return data
    if conn.fin_rcvd:
        # Linux tcp_recvmsg looks at SOCK_DONE before sk_err: after the peer's FIN a read
        # is end-of-stream even if an RST came later; the error is left for send().
        return b""
    if conn.error:
        raise OSError(conn.take_error(), "connection failed")
    if conn.shut_rd or conn.rcv_fin_reached or conn.state == State.CLOSED:
        return b""
    return None


def _data_consumed(conn: Connection) -> None:
    """After a read: send the ACK or window update it makes due (Linux tcp_cleanup_rbuf)."""
    if conn.state not in _READ_ACKS:
        return
    delack = conn.delack
    if delack.pending and (output.ack_due(conn) or delack.at_once
                           or delack.drained_small(conn.recv_queued == 0)):
        output.send_ack(conn)
        return
    # Window update: once the offered window has fallen to half of the largest we may offer
    # (window_clamp), a read that at least doubles it is worth an ACK; the peer may be
    # waiting on it (Linux tcp_cleanup_rbuf: "lots" means twice; no MSS threshold, which with
    # one-segment windows at a large MTU would leave the sender to the 40 ms delayed-ACK timer).
    advertised = seq_diff(conn.rcv_adv, conn.rcv_nxt)
    if 2 * advertised <= conn.rwin.window_clamp:
        new = conn.rwin.select(conn)
        if new and new >= 2 * advertised:
            output.send_ack(conn)


def shutdown(conn: Connection, how: int, now: float) -> None:
    """shutdown(2) on the connection, whatever the number of handles (Linux tcp_shutdown)."""
    if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
        raise OSError(errno.EINVAL, "shutdown: how must be SHUT_RD, SHUT_WR or SHUT_RDWR")
    conn.engine.begin_call(now)
    if conn.state == State.SYN_SENT:
        # Linux inet_shutdown -> tcp_disconnect: the attempt ends at once, without an RST
        # (nothing is synchronized yet), the connecting call gets ECONNRESET, and the socket
        # may connect again.
        conn.drop(Event.SHUTDOWN_OPENING, errno.ECONNRESET, "shutdown() in SYN-SENT (tcp_disconnect)")
        return
    if conn.state == State.CLOSED and not conn.error:
        raise OSError(errno.ENOTCONN, "socket is not connected")
    if how in (SHUT_RD, SHUT_RDWR):
        conn.shut_rd = True
        conn.engine.wake(conn)
    if how in (SHUT_WR, SHUT_RDWR) and not conn.shut_wr:
        conn.shut_wr = True
        _queue_fin(conn)
    output.flush(conn)


def close(conn: Connection, now: float) -> None:
    """The last handle is gone (Linux tcp_close): FIN, RST for unread data, or RST for linger 0."""
    if conn.orphan:
        return
    conn.engine.begin_call(now)
    conn.shut_rd = conn.shut_wr = True
    eng = conn.engine
    unread = conn.recv_queued
    if conn.rcvbuf is not None:
        conn.rcvbuf.clear()
    if conn.state == State.CLOSED:
        eng.forget(conn)
    elif conn.state in (State.SYN_SENT, State.LISTEN):
        conn.drop(Event.CLOSE)
    elif unread:
        # RFC 2525 section 2.17: closing with unread data resets the connection.
        eng.counters["TCPAbortOnClose"] += 1
        output.send_active_rst(conn)
        conn.drop(Event.CLOSE_UNREAD, reason="close with unread data")
    elif options(conn).linger == 0:
        eng.counters["TCPAbortOnData"] += 1
        if conn.state in (State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_1, State.FIN_WAIT_2,
                          State.SYN_RECEIVED):
            output.send_active_rst(conn)
        conn.drop(Event.ABORT, reason="SO_LINGER 0")
    else:
        _queue_fin(conn)
        if conn.state == State.FIN_WAIT_2 and conn.t_fin2 == INF:
            conn.set_timer(TimerKind.FIN_WAIT2, eng.now + eng.knobs.tcp_fin_timeout)
    conn.orphan = True
    conn.error = 0
    output.flush(conn)
    if conn.state not in DONE:
        _count_orphan(conn)


def _count_orphan(conn: Connection) -> None:
    """The closed connection lives on as an orphan (Linux __tcp_close: tcp_orphan_count + 1),
    unless that makes more than tcp_max_orphans: then, its FIN sent already, it is reset
    (tcp_check_oom, "too many orphaned sockets", TCPAbortOnMemory)."""
    eng = conn.engine
    eng.orphans.add(conn)
    if len(eng.orphans) > eng.knobs.tcp_max_orphans:
        eng.counters["TCPAbortOnMemory"] += 1
        output.send_active_rst(conn)
        conn.drop(Event.OUT_OF_ORPHANS, reason="too many orphaned sockets (tcp_max_orphans)")


def abort(conn: Connection, now: float) -> None:
    """An RST now, no TIME_WAIT: SO_LINGER with a zero timeout, then close."""
    apply_option(conn, "linger", 0)
    close(conn, now)


def quickack(conn: Connection, now: float) -> None:
    """TCP_QUICKACK=1: send any pending ACK now and leave ping-pong mode (not sticky)."""
    conn.engine.begin_call(now)
    conn.delack.pingpong = False
    if conn.delack.pending:
        output.send_ack(conn)
    output.flush(conn)


def _queue_fin(conn: Connection) -> None:
    """Queue our FIN after the buffered data (RFC 9293 section 3.10.4)."""
    if conn.fin_queued or conn.state not in _CAN_QUEUE_FIN:
        return
    conn.fin_queued = True
    conn.fin_seq = (conn.sndbuf_seq + conn.send_queued) & MASK
    conn.set_state(Event.CLOSE)  # FIN-WAIT-1, or LAST-ACK from CLOSE-WAIT
