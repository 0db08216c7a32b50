"""The eleven TCP states (RFC 9293 section 3.3.2), with the names `ss` prints."""

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
