"""Helpers shared by the tests that drive minitcp from kernel clients over TUN."""

from __future__ import annotations

import hashlib
import http.client
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


def http_download_sha(n: int, host: str = "198.18.0.2") -> tuple[int, str]:
    """GET /bytes/n from the stack's HTTP server with the kernel's HTTP client (run it in a
    thread): the size received and its SHA-256."""
    conn = http.client.HTTPConnection(host, 80, timeout=20)
    try:
        conn.request("GET", f"/bytes/{n}")
        response = conn.getresponse()
        assert response.status == 200
        hasher, size = hashlib.sha256(), 0
        while chunk := response.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
        return size, hasher.hexdigest()
    finally:
        conn.close()
