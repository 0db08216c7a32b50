"""The eleven TCP states (RFC 9293 section 3.3.2), with the names `ss` prints, and the
transitions between them as one table (RFC 9293 figure 5 and the edges Linux adds).

Every state change of a connection goes through `next_state`, which refuses an edge that
is not in `TRANSITIONS`. `docs/make_state_diagram.py` draws the table as docs/tcp-states.svg.
"""

import enum


class State(enum.IntEnum):
    CLOSED = 0
    LISTEN = 1
    SYN_SENT = 2
    SYN_RECEIVED = 3
    ESTABLISHED = 4
    FIN_WAIT_1 = 5
    FIN_WAIT_2 = 6
    CLOSE_WAIT = 7
    CLOSING = 8
    LAST_ACK = 9
    TIME_WAIT = 10

    @property
    def ss_name(self) -> str:
        """The column `ss -t` shows (`ESTAB`, `SYN-RECV`, `FIN-WAIT-1`, ...)."""
        return _SS_NAMES[self]


_SS_NAMES = {
    State.CLOSED: "UNCONN",
    State.LISTEN: "LISTEN",
    State.SYN_SENT: "SYN-SENT",
    State.SYN_RECEIVED: "SYN-RECV",
    State.ESTABLISHED: "ESTAB",
    State.FIN_WAIT_1: "FIN-WAIT-1",
    State.FIN_WAIT_2: "FIN-WAIT-2",
    State.CLOSE_WAIT: "CLOSE-WAIT",
    State.CLOSING: "CLOSING",
    State.LAST_ACK: "LAST-ACK",
    State.TIME_WAIT: "TIME-WAIT",
}

# States in which both sides have exchanged SYNs (RFC 9293 section 3.3.2).
SYNCHRONIZED = frozenset(
    {
        State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT,
        State.CLOSING, State.LAST_ACK, State.TIME_WAIT,
    }
)
# Linux's CurrEstab counts these (RFC 1213 tcpCurrEstab).
CURR_ESTAB = frozenset({State.ESTABLISHED, State.CLOSE_WAIT})
# A connection that has nothing left to send and no timers to run.
DONE = frozenset({State.CLOSED, State.TIME_WAIT})


class Event(enum.Enum):
    """What moves a connection from one state to another; the value is the diagram's label.

    The first nine are the events RFC 9293 figure 5 draws. The others are edges the figure
    leaves out (its note 3: "receipt of a RST from any state ... is also omitted") and the
    ways Linux ends a connection on its own; every one of those goes to CLOSED.
    """

    # RFC 9293 figure 5 (section 3.3.2) and the user calls of section 3.10.
    PASSIVE_OPEN = "passive OPEN"
    ACTIVE_OPEN = "active OPEN"
    # The user's CLOSE, i.e. close() or shutdown(SHUT_WR): "no more to send" (section 3.10.4).
    CLOSE = "CLOSE"
    # A SYN to a listener, or a crossing SYN in SYN-SENT (simultaneous open, figure 8).
    RCV_SYN = "rcv SYN"
    RCV_SYN_ACK = "rcv SYN,ACK"
    RCV_ACK_OF_SYN = "rcv ACK of SYN"
    # The peer's FIN, in order (section 3.10.7.4, eighth; Linux tcp_fin).
    RCV_FIN = "rcv FIN"
    RCV_ACK_OF_FIN = "rcv ACK of FIN"
    TIMEOUT_2MSL = "Timeout=2MSL"

    # RFC 9293 section 3.10.7: an acceptable RST ends the connection (Linux tcp_reset ->
    # tcp_done). In SYN-SENT it is the RST,ACK of a refused connection; in a listener's
    # SYN-RECEIVED the half-open connection dies and the listener stays in LISTEN (figure 5,
    # note 1; Linux tcp_check_req); in TIME-WAIT it is the assassination RFC 1337 describes,
    # which Linux allows unless tcp_rfc1337 (tcp_timewait_state_process, TCP_TW_SUCCESS).
    RCV_RST = "rcv RST"
    # A SYN inside the window of a synchronized connection: RFC 793 page 71 answers with RST
    # and CLOSED. Linux does it for a listener's half-open connection (tcp_check_req), and for
    # the others only with tcp_insecure_syn (RFC 5961 section 4 switched off).
    RCV_SYN_IN_WINDOW = "rcv SYN in window"
    # A SYN above the old sequence space takes a TIME-WAIT pair over for a new connection
    # (RFC 1122 section 4.2.2.13; Linux tcp_timewait_state_process -> TCP_TW_SYN, TWRecycled).
    RCV_NEW_SYN = "rcv SYN of a new connection"
    # New data once the application has closed its reading side: RST (RFC 1122 section
    # 4.2.2.13; Linux tcp_rcv_state_process, "if (sk->sk_shutdown & RCV_SHUTDOWN)", TCPAbortOnData).
    RCV_DATA_AFTER_CLOSE = "rcv data after close"
    # An ICMP error about a segment in flight while the connection opens (RFC 1122 section
    # 4.2.3.9; Linux tcp_v4_err -> tcp_done, tcp_req_err for a listener's SYN-ACK).
    ICMP_ERROR = "ICMP error"
    # The retransmission timer gave up: tcp_syn_retries, tcp_synack_retries, tcp_retries2 or
    # tcp_orphan_retries (Linux tcp_write_timeout -> tcp_write_err; reqsk_timer_handler).
    RETRIES_EXHAUSTED = "retransmissions exhausted"
    # Zero-window probes unanswered (Linux tcp_probe_timer -> tcp_write_err).
    PROBES_EXHAUSTED = "zero-window probes unanswered"
    # Keepalive probes unanswered (RFC 1122 section 4.2.3.6; Linux tcp_keepalive_timer ->
    # tcp_send_active_reset, tcp_write_err).
    KEEPALIVE_EXHAUSTED = "keepalive probes unanswered"
    # An orphan's FIN-WAIT-2 lasts tcp_fin_timeout (Linux tcp_keepalive_timer, tcp_time_wait
    # with TCP_FIN_WAIT2).
    FIN_WAIT_2_TIMEOUT = "Timeout=tcp_fin_timeout"
    # The FIN or ACK of FIN that leads to TIME-WAIT came while the TIME-WAIT table holds
    # tcp_max_tw_buckets entries: the connection closes at once (Linux tcp_time_wait,
    # TCPTimeWaitOverflow).
    TIME_WAIT_FULL = "TIME-WAIT table full"
    # close() with data the application never read: RST (RFC 2525 section 2.17; Linux
    # tcp_close, TCPAbortOnClose).
    CLOSE_UNREAD = "CLOSE with unread data"
    # The user's ABORT (RFC 9293 section 3.10.5): close() with SO_LINGER 0 (Linux tcp_close ->
    # tcp_disconnect, TCPAbortOnData).
    ABORT = "ABORT"
    # shutdown() while the SYN is out: the attempt ends, without RST (Linux inet_shutdown ->
    # tcp_disconnect).
    SHUTDOWN_OPENING = "shutdown() while opening"
    # The listener closed with this connection still half-open (Linux inet_csk_listen_stop).
    LISTENER_CLOSED = "listener closed"
    # The handshake's ACK found the accept queue full and tcp_abort_on_overflow is set: RST
    # (Linux tcp_check_req, listen_overflow).
    ACCEPT_QUEUE_FULL = "accept queue full"
    # close() left one orphan more than tcp_max_orphans allows: RST (Linux __tcp_close ->
    # tcp_check_oom, "too many orphaned sockets", TCPAbortOnMemory).
    OUT_OF_ORPHANS = "too many orphans"
    # A bug raised an exception inside the engine while it worked on a connection the
    # application has closed: it is reset (Linux tcp_abort; TcpEngine.connection_failed).
    ENGINE_ERROR = "engine error"


# The edges RFC 9293 figure 5 draws, top to bottom. Two of the figure's edges are not here:
# LISTEN -- SEND --> SYN-SENT (a listening socket cannot send, in Linux or in sockets), and
# SYN-RECEIVED -- rcv RST --> LISTEN (the listener never leaves LISTEN: the half-open
# connection, a separate object as Linux's request sock is, goes to CLOSED). Note 2's
# FIN-WAIT-1 -> TIME-WAIT on a FIN that also acknowledges ours is taken in two steps, as
# Linux's tcp_rcv_state_process does: rcv ACK of FIN to FIN-WAIT-2, then rcv FIN.
_FIGURE_5: dict[tuple[State, Event], State] = {
    (State.CLOSED, Event.PASSIVE_OPEN): State.LISTEN,
    (State.CLOSED, Event.ACTIVE_OPEN): State.SYN_SENT,
    (State.LISTEN, Event.CLOSE): State.CLOSED,
    (State.LISTEN, Event.RCV_SYN): State.SYN_RECEIVED,
    (State.SYN_SENT, Event.RCV_SYN): State.SYN_RECEIVED,
    (State.SYN_SENT, Event.RCV_SYN_ACK): State.ESTABLISHED,
    (State.SYN_SENT, Event.CLOSE): State.CLOSED,
    (State.SYN_RECEIVED, Event.RCV_ACK_OF_SYN): State.ESTABLISHED,
    (State.SYN_RECEIVED, Event.CLOSE): State.FIN_WAIT_1,
    (State.ESTABLISHED, Event.CLOSE): State.FIN_WAIT_1,
    (State.ESTABLISHED, Event.RCV_FIN): State.CLOSE_WAIT,
    (State.FIN_WAIT_1, Event.RCV_ACK_OF_FIN): State.FIN_WAIT_2,
    (State.FIN_WAIT_1, Event.RCV_FIN): State.CLOSING,
    (State.FIN_WAIT_2, Event.RCV_FIN): State.TIME_WAIT,
    (State.CLOSE_WAIT, Event.CLOSE): State.LAST_ACK,
    (State.CLOSING, Event.RCV_ACK_OF_FIN): State.TIME_WAIT,
    (State.LAST_ACK, Event.RCV_ACK_OF_FIN): State.CLOSED,
    (State.TIME_WAIT, Event.TIMEOUT_2MSL): State.CLOSED,
}

# Synchronized states a connection is in until it ends or hands its four-tuple to TIME-WAIT.
_SYNCHRONIZED_OPEN = SYNCHRONIZED - {State.TIME_WAIT}
# States in which our data or FIN may still be unacknowledged or unsent.
_SENDING = frozenset({State.ESTABLISHED, State.FIN_WAIT_1, State.CLOSE_WAIT, State.CLOSING, State.LAST_ACK})
# Every other edge ends the connection: the states each event ends it from.
_TO_CLOSED: dict[Event, frozenset[State]] = {
    Event.RCV_RST: _SYNCHRONIZED_OPEN | {State.SYN_SENT, State.SYN_RECEIVED, State.TIME_WAIT},
    Event.RCV_SYN_IN_WINDOW: _SYNCHRONIZED_OPEN | {State.SYN_RECEIVED, State.TIME_WAIT},
    Event.RCV_NEW_SYN: frozenset({State.TIME_WAIT}),
    Event.RCV_DATA_AFTER_CLOSE: frozenset({State.FIN_WAIT_1, State.FIN_WAIT_2}),
    Event.ICMP_ERROR: frozenset({State.SYN_SENT, State.SYN_RECEIVED}),
    # Retransmissions of data, SYN or FIN; in FIN-WAIT-2 everything is acknowledged already.
    Event.RETRIES_EXHAUSTED: _SENDING | {State.SYN_SENT, State.SYN_RECEIVED},
    # Probes run while data waits for a window, which may be in any state our FIN is not sent.
    Event.PROBES_EXHAUSTED: _SENDING,
    Event.KEEPALIVE_EXHAUSTED: frozenset({State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_2}),
    Event.FIN_WAIT_2_TIMEOUT: frozenset({State.FIN_WAIT_2}),
    Event.TIME_WAIT_FULL: frozenset({State.FIN_WAIT_2, State.CLOSING}),
    # A connection the application still holds keeps its state after TIME-WAIT took its
    # four-tuple over: its close() may still reset it.
    Event.CLOSE_UNREAD: _SYNCHRONIZED_OPEN | {State.TIME_WAIT},
    Event.ABORT: _SYNCHRONIZED_OPEN | {State.SYN_RECEIVED, State.TIME_WAIT},
    Event.SHUTDOWN_OPENING: frozenset({State.SYN_SENT}),
    Event.LISTENER_CLOSED: frozenset({State.SYN_RECEIVED}),
    Event.ACCEPT_QUEUE_FULL: frozenset({State.SYN_RECEIVED}),
    # The states close() leaves a connection in with our FIN queued.
    Event.OUT_OF_ORPHANS: frozenset({State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSING, State.LAST_ACK}),
    # Only a closed connection (an orphan) can be in these states when the engine fails on it.
    Event.ENGINE_ERROR: frozenset({State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSING, State.LAST_ACK}),
}

# The one table: (state, event) -> the next state.
TRANSITIONS: dict[tuple[State, Event], State] = {
    **_FIGURE_5,
    **{(state, event): State.CLOSED for event, states in _TO_CLOSED.items() for state in states},
}


class IllegalTransition(RuntimeError):
    """An event the state machine has no edge for in the connection's state."""


def next_state(state: State, event: Event) -> State:
    """The state `event` leads to from `state`; IllegalTransition if the table has no such edge."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(f"no transition from {state.name} on {event.name} ({event.value!r})") \
            from None
