"""Congestion control as a pluggable part (Linux `struct tcp_congestion_ops`, tcp_cong.c):
`make_cc(name, init_cwnd)` builds the algorithm a connection uses; `AVAILABLE` lists them
(net.ipv4.tcp_available_congestion_control)."""

from __future__ import annotations

from .base import TCP_INFINITE_SSTHRESH, CaState, CongestionControl, Sender
from .cubic import Cubic
from .reno import Reno

# In Linux's order: Reno is built in and listed first, CUBIC registers after it.
_ALGORITHMS: dict[str, type[CongestionControl]] = {Reno.name: Reno, Cubic.name: Cubic}
AVAILABLE: tuple[str, ...] = tuple(_ALGORITHMS)

__all__ = ["AVAILABLE", "TCP_INFINITE_SSTHRESH", "CaState", "CongestionControl", "Sender", "make_cc"]


def make_cc(name: str, init_cwnd: int, sender: Sender | None = None) -> CongestionControl:
    """A fresh instance of the algorithm `name` (KeyError if minitcp has none by that name),
    reading `sender`'s sequence numbers when a hook needs them."""
    return _ALGORITHMS[name](init_cwnd, sender)
