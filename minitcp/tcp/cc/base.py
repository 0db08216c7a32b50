"""The congestion-control part's interface (Linux `struct tcp_congestion_ops`) and the
window arithmetic every algorithm shares (Linux tcp_cong.c).

Windows are counted in segments, as Linux's `snd_cwnd` and `snd_ssthresh`; the sender turns
them into bytes with its MSS. The part owns the window and the congestion state it is told
about; when a loss is detected, when recovery starts and ends is `recovery.Recovery`'s
business, which calls `ssthresh_on_loss`, `undo_cwnd` and `set_ca_state` here as Linux's
tcp_input.c calls ca_ops->ssthresh, ->undo_cwnd and ->set_state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import IntEnum
from typing import Protocol

from ..counters import Counters
from ..knobs import HZ
from ..seq import seq_lt

# include/net/tcp.h: the "infinite" slow-start threshold of a fresh connection.
TCP_INFINITE_SSTHRESH = 0x7FFFFFFF


class CaState(IntEnum):
    """Linux `enum tcp_ca_state` (include/uapi/linux/tcp.h), as TCP_INFO's tcpi_ca_state."""

    OPEN = 0
    DISORDER = 1
    CWR = 2
    RECOVERY = 3
    LOSS = 4


class Sender(Protocol):
    """What a ca_ops hook reads of the sender, as Linux's read `tcp_sk(sk)`: snd_una, the
    highest sequence number sent (Linux's snd_nxt, minitcp's snd_max, which a timeout does not
    pull back), sk_pacing_rate in bytes per second, and the stack's MIB counters."""

    snd_una: int
    snd_max: int

    @property
    def pacing_rate(self) -> int: ...

    @property
    def counters(self) -> dict[str, int]: ...


class _Detached:
    """The sender of a part not (yet) attached to a connection: nothing sent, its own counters."""

    snd_una = snd_max = pacing_rate = 0

    def __init__(self) -> None:
        self.counters: dict[str, int] = Counters()


class CongestionControl(ABC):
    """One connection's congestion window; a subclass is the algorithm that moves it (the
    ca_ops hooks below)."""

    __slots__ = ("ca_state", "cwnd", "cwnd_clamp", "cwnd_cnt", "cwnd_stamp", "cwnd_usage_seq", "cwnd_used",
                 "is_cwnd_limited", "last_send", "max_packets_out", "prior_cwnd", "sender", "ssthresh")

    name = ""  # Linux ca_ops->name, as TCP_CONGESTION and ss -i show it

    def __init__(self, init_cwnd: int, sender: Sender | None = None) -> None:
        self.sender: Sender = sender if sender is not None else _Detached()
        self.cwnd = init_cwnd  # RFC 6928 section 2 (Linux tcp_init_cwnd, TCP_INIT_CWND 10)
        self.ssthresh = TCP_INFINITE_SSTHRESH  # RFC 5681 section 3.1: "arbitrarily high"
        self.cwnd_cnt = 0  # Linux snd_cwnd_cnt: ACKed segments towards the next +1
        self.cwnd_clamp = 0xFFFFFFFF  # Linux snd_cwnd_clamp (~0, no route clamp)
        self.prior_cwnd = 0  # Linux prior_cwnd: cwnd when the last reduction began, for undo
        self.last_send = 0.0  # Linux lsndtime: last data sent, for restart after idle
        self.ca_state = CaState.OPEN  # Linux icsk_ca_state
        # Linux tcp_cwnd_validate's record of how much of the window the sender used.
        self.is_cwnd_limited = False
        self.max_packets_out = 0
        self.cwnd_usage_seq = 0
        # RFC 2861 / RFC 7661 as Linux keeps them: the most segments in flight while the sender
        # did not fill cwnd (snd_cwnd_used), and when cwnd was last used or changed (snd_cwnd_stamp).
        self.cwnd_used = 0
        self.cwnd_stamp = 0.0

    def take_over(self, old: CongestionControl) -> None:
        """Carry on from `old` (TCP_CONGESTION on a live socket): the window, ssthresh and state
        are tcp_sock's in Linux and stay; the algorithm's private state starts afresh."""
        for slot in CongestionControl.__slots__:
            setattr(self, slot, getattr(old, slot))

    # ------------------------------------------------------------------ shared arithmetic

    @property
    def in_slow_start(self) -> bool:
        return self.cwnd < self.ssthresh  # Linux tcp_in_slow_start

    def slow_start(self, acked: int) -> int:
        """Linux tcp_slow_start (RFC 5681 section 3.1, RFC 3465 without its L limit): grow by
        the segments ACKed, up to ssthresh; returns what is left for congestion avoidance."""
        cwnd = min(self.cwnd + acked, self.ssthresh)
        acked -= cwnd - self.cwnd
        self.cwnd = min(cwnd, self.cwnd_clamp)
        return acked

    def cong_avoid_ai(self, w: int, acked: int) -> None:
        """Linux tcp_cong_avoid_ai: one segment more per `w` segments ACKed (RFC 5681 eq. 3)."""
        if self.cwnd_cnt >= w:
            # Credits gathered at a higher w are applied gently now.
            self.cwnd_cnt = 0
            self.cwnd += 1
        self.cwnd_cnt += acked
        if self.cwnd_cnt >= w:
            delta = self.cwnd_cnt // w
            self.cwnd_cnt -= delta * w
            self.cwnd += delta
        self.cwnd = min(self.cwnd, self.cwnd_clamp)

    def current_ssthresh(self) -> int:
        """Linux tcp_current_ssthresh: during a reduction ssthresh, else at least 3/4 cwnd."""
        if self.ca_state in (CaState.CWR, CaState.RECOVERY):
            return self.ssthresh
        return max(self.ssthresh, (self.cwnd >> 1) + (self.cwnd >> 2))

    # ------------------------------------------------------------------ how much was used

    def cwnd_validate(self, limited: bool, packets_out: int, snd_una: int, snd_nxt: int,
                      now: float = 0.0, rto: float = 0.0, decay: bool = False, nospace: bool = False,
                      init_cwnd: int = 10) -> None:
        """Linux tcp_cwnd_validate: remember whether this window was cwnd-limited, or else the
        most segments it had in flight (the ACK clock may grow cwnd only up to twice that).
        Then RFC 2861's slow part: a window fed fully is stamped; one that starved records the
        most it used, and with `decay` (tcp_slow_start_after_idle) after an RTO of starving
        it shrinks (tcp_cwnd_application_limited). `nospace`: the application waited for send
        buffer room (SOCK_NOSPACE) or has no socket, so cwnd is not what held it back."""
        if not seq_lt(snd_una, self.cwnd_usage_seq) or limited \
                or (not self.is_cwnd_limited and packets_out > self.max_packets_out):
            self.is_cwnd_limited = limited
            self.max_packets_out = packets_out
            self.cwnd_usage_seq = snd_nxt
        if self.cwnd_limited():
            self.cwnd_used = 0  # the network is fed fully
            self.cwnd_stamp = now
            return
        self.cwnd_used = max(self.cwnd_used, packets_out)  # the network starves
        if decay and self.decay_due(now, rto):
            self.application_limited(now, nospace, init_cwnd)

    def decay_due(self, now: float, rto: float) -> bool:
        """An RTO since cwnd was last stamped: a starved window would now shrink (Linux
        tcp_cwnd_validate: (s32)(tcp_jiffies32 - snd_cwnd_stamp) >= icsk_rto, in jiffies)."""
        return int(now * HZ + 1e-6) - int(self.cwnd_stamp * HZ + 1e-6) >= int(rto * HZ + 1e-6)

    def application_limited(self, now: float, nospace: bool, init_cwnd: int) -> None:
        """Linux tcp_cwnd_application_limited (RFC 2861 section 3, RFC 7661): cwnd unused for an
        RTO falls to the mean of cwnd and what was used (at least the initial window), ssthresh
        keeping the old one's 3/4; not during a reduction or loss recovery, nor when the send
        buffer was what limited the sender."""
        if self.ca_state == CaState.OPEN and not nospace:
            win_used = max(self.cwnd_used, init_cwnd)
            if win_used < self.cwnd:
                self.ssthresh = self.current_ssthresh()
                self.cwnd = (self.cwnd + win_used) >> 1
            self.cwnd_used = 0
        self.cwnd_stamp = now

    def cwnd_limited(self) -> bool:
        """Linux tcp_is_cwnd_limited: may the window grow on this ACK?"""
        if self.is_cwnd_limited:
            return True
        if self.in_slow_start:
            return self.cwnd < 2 * self.max_packets_out  # grow to twice what was used
        return False

    def restart(self, idle: float, rto: float, init_cwnd: int, now: float = 0.0) -> None:
        """Linux tcp_cwnd_restart (RFC 5681 section 4.1, RFC 7661): after an idle period of more
        than an RTO, halve cwnd per RTO idle, not below the restart window min(init, cwnd)."""
        self.ssthresh = self.current_ssthresh()
        restart_cwnd = min(init_cwnd, self.cwnd)
        cwnd = self.cwnd
        idle -= rto
        while idle > 0 and cwnd > restart_cwnd:
            cwnd >>= 1
            idle -= rto
        self.cwnd = max(cwnd, restart_cwnd)
        self.cwnd_stamp = now
        self.cwnd_used = 0

    # ------------------------------------------------------------------ ca_ops

    @abstractmethod
    def cong_avoid(self, acked: int, now: float, cwnd_limited: bool) -> None:
        """ca_ops->cong_avoid: `acked` segments were delivered outside a reduction; grow the
        window, only when `cwnd_limited` (Linux tcp_is_cwnd_limited)."""

    @abstractmethod
    def ssthresh_on_loss(self) -> int:
        """ca_ops->ssthresh: the slow-start threshold after a loss or an ECE."""

    def undo_cwnd(self) -> int:
        """ca_ops->undo_cwnd; Linux tcp_reno_undo_cwnd, which CUBIC uses too: back to the
        window before the reduction that proved spurious."""
        return max(self.cwnd, self.prior_cwnd)

    def init(self, now: float) -> None:  # noqa: B027 (optional in Linux)
        """ca_ops->init, when the connection is established (tcp_init_congestion_control)."""

    def on_rtt_sample(self, rtt: float, acked: int, now: float) -> None:  # noqa: B027 (optional in Linux)
        """ca_ops->pkts_acked: an ACK with an RTT sample (CUBIC's HyStart reads it)."""

    def set_ca_state(self, state: CaState, now: float) -> None:
        """ca_ops->set_state, called by Linux tcp_set_ca_state before the state changes."""
        self.ca_state = state

    def on_tx_start(self, now: float) -> None:  # noqa: B027 (an optional hook, as in Linux)
        """ca_ops->cwnd_event(CA_EVENT_TX_START): data leaves with nothing in flight."""
