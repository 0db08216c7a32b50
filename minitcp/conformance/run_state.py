"""What one run of one script knows, shared by the parts of the runner (runner.py).

The remote host's addresses and initial sequence number, the script's
failure (`ScriptFailure`), and `RunState`: the run's bookkeeping (the
captured segments, the script's sockets, the calls not yet returned, the
failures found so far) with the helpers every part uses to log, show a
segment and report a failure. The lines of the script are played by its
subclasses: packets (packets.py), system calls (syscalls.py), commands and
snippets (commands.py), and the script as a whole (runner.py).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable

import trio

from ..tcp.knobs import Knobs
from ..wire.segment import Segment
from .matching import SeqSpace, describe
from .minitcp_target import MinitcpTarget
from .model import Script, SyscallEvent
from .target import Epoll, Peer, Target, TargetSocket

BIND_PORT = 8080  # packetdrill's --bind_port
CONNECT_PORT = 8080  # packetdrill's --connect_port
REMOTE_PORT = 40000  # the remote host's port towards a listener
REMOTE_ISN = 0x3B9ACA07  # the runner's ISN: script seq 0 is this on the wire
EPS = 1e-6  # float slack on time comparisons


class ScriptFailure(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass
class PendingCall:
    event: SyscallEvent
    due: float  # when it should return: the end of `a...b` (a call without `...`: never checked)
    tol: float  # how far from `due` it may return
    done: bool = False
    # No `...`: packetdrill (run_system_call.c run_system_call_event) makes the call itself and
    # the script waits for it to return; when it returns is not checked.
    at_once: bool = False
    returned: trio.Event = dataclasses.field(default_factory=trio.Event)
    returned_at: float = 0.0  # script time


class RunState:
    """The bookkeeping of one run, and what every kind of line needs to log and fail."""

    # Set when the run starts (Runner._main): the remote host's end of the link, and where
    # a line waiting for a segment parks until the next one is captured.
    peer: Peer
    _arrived: trio.lowlevel.ParkingLot

    def __init__(self, script: Script, *, strict: bool = False, knobs: Knobs | None = None,
                 real_time_budget: float = 20.0, trace: Callable[[str], None] | None = None,
                 lenient_acks: bool = False, target: Target | None = None) -> None:
        """`knobs` configure the default target, minitcp; `target` plays the script against another."""
        self.script = script
        self.strict = strict
        self.target: Target = target if target is not None else MinitcpTarget(knobs)
        self.tol = script.tolerance
        self.tol_percent = script.tolerance_percent
        self.space = SeqSpace(remote_isn=REMOTE_ISN, remote_base=REMOTE_ISN)
        self.captured: collections.deque[tuple[float, Segment | None, bytes]] = collections.deque()
        self.captured_total = 0  # segments ever captured: numbers them, for the end of the script
        self.end_mark = 0  # how many had been captured when the last line ran
        self.fds: dict[int, TargetSocket] = {}
        self.out_of_reach: list[TargetSocket] = []  # open sockets whose number another took
        self.others: dict[int, Epoll | int] = {}  # epoll instances, files, pipe ends (linux_calls.py)
        # packetdrill reads outbound segments until they add up to a `>` line's payload (a TSO
        # super-segment is matched whole, packets.py), unless the script says --strict_segments.
        self.aggregate = "strict_segments" not in script.options
        self.remote_synced = False  # the remote host's ISN is known (listen() and connect() reset it)
        # packetdrill's socket states (run_system_call.c, run_packet.c): sockets made by socket()
        # and not yet connected or listening; a listener is the socket under test (the next
        # inbound packet opens a new connection to it, from a new port); a connect() was made and
        # its SYN not yet taken (only a SYN is the socket under test's).
        self.new_sockets: set[int] = set()
        self.listening = False
        self.passive_opens = 0
        self.connecting = False
        self.code_names: dict[str, object] = {}  # the namespace the script's %{ }% snippets share
        self.ignored: list[str] = []
        self.failures: list[tuple[float, int, str]] = []  # (time, order, reason)
        self.pending: list[PendingCall] = []
        self.local_port = BIND_PORT
        self.remote_port = REMOTE_PORT
        self.last_time = 0.0
        self.origin = 0.0
        self.socket_under_test: int | None = None
        self.ts_base: tuple[int, int] | None = None  # (script TS val, live TS val) of the first seen
        self.ts_map: dict[int, int] = {}
        self.budget = real_time_budget
        self.trace = trace
        self.lenient_acks = lenient_acks
        self.skipped_acks = 0
        self._order = 0

    @property
    def now(self) -> float:
        return trio.current_time() - self.origin

    def _connect_made(self, fd: object) -> None:
        """connect(), or sendto() with MSG_FASTOPEN, on a new socket (packetdrill's
        run_syscall_connect: on any other, nothing changes): the socket under test is a new active
        open to the remote host's port 8080, its ISN and our port learned from its SYN."""
        if fd not in self.new_sockets:
            return
        self.new_sockets.discard(fd)
        self.remote_synced = False
        self.remote_port = CONNECT_PORT
        self.connecting = True
        self.listening = False

    def _passive_open(self) -> None:
        """An inbound packet to the listener under test: a new connection, from a new port
        (packetdrill's handle_listen_for_script_packet, next_ephemeral_port)."""
        self.listening = False
        self.local_port = BIND_PORT
        self.remote_port = REMOTE_PORT + self.passive_opens
        self.passive_opens += 1

    def _log(self, text: str) -> None:
        if self.trace is not None:
            self.trace(text)

    def _show(self, seg: Segment | None, absolute: bool = False) -> str:
        if seg is None:
            return "(a packet that is not TCP)"
        return f"`{describe(seg, self.space, absolute_seq=absolute)}`"

    def _tolerance(self, when: float) -> float:
        """How far from `when` (script time) an event may happen: packetdrill's run.c verify_time
        takes --tolerance_usecs or, if more, --tolerance_percent of the time since the last event."""
        return max(self.tol, self.tol_percent / 100 * (when - self.last_time))

    def _fail(self, at: float, reason: str) -> None:
        self._order += 1
        self.failures.append((at, self._order, reason))

    def _check_failures(self) -> None:
        now = self.now
        for p in self.pending:
            if not p.done and not p.at_once and now > p.due + p.tol + EPS:
                p.done = True
                self._fail(p.due + p.tol, f"line {p.event.line}: {p.event.name}() did not return by "
                                          f"{p.due + p.tol:.3f} s (expected at {p.due:.3f} s)")
        if self.failures:
            raise ScriptFailure(min(self.failures)[2])
