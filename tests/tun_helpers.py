"""Helpers shared by the tests that drive minitcp from kernel clients over TUN."""

from __future__ import annotations

from typing import Any

from minitcp.tcp.observer import BaseObserver
from minitcp.tcp.states import State


class StateLog(BaseObserver):
    """An engine observer that keeps every state change, by (our port, their port)."""

    def __init__(self) -> None:
        self.changes: list[tuple[int, int, State, State]] = []

    def on_state(self, conn: Any, old: State, new: State, now: float) -> None:
        _, lport, _, rport = conn.four_tuple  # a Connection or a TIME_WAIT entry
        self.changes.append((lport, rport, old, new))

    def states(self, lport: int, rport: int) -> list[State]:
        """minitcp's states for the connection (lport, rport), in order."""
        return [new for lp, rp, _, new in self.changes if (lp, rp) == (lport, rport)]
