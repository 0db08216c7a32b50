"""Running a script in real time as packetdrill's run.c does: its priority, its memory, its time 0.

packetdrill is a timing instrument with milliseconds of tolerance, so before
it plays a script (run.c run_script) it

- makes its threads real-time (`set_scheduling_priority`: SCHED_RR at the
  policy's lowest priority, when the machine has more than one CPU), so a busy
  machine does not keep it waiting for a time slice;
- locks its memory (`lock_memory`: mlockall), so no page fault stalls it;
- starts the script's clock well inside a jiffy (`schedule_start_time_usecs`):
  it spins until times(2) has ticked ten times (about 100 ms, warming up as
  it goes), and starts 250 us after the last tick, so that events a
  millisecond apart never straddle a tick edge differently from run to run
  (the kernel's delayed-ACK and retransmission timers count jiffies).

The runner's kernel target does the same in each script's child process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time

_TARGET_JIFFY_TICKS = 10  # run.c schedule_start_time_usecs
_JIFFY_OFFSET = 250e-6  # JIFFY_OFFSET_USECS
_MCL_CURRENT, _MCL_FUTURE = 1, 2  # <sys/mman.h>


def run_like_packetdrill() -> None:
    """SCHED_RR at its lowest priority and memory locked (a no-op without the privilege).

    Call before any thread starts: threads inherit the policy."""
    if (os.cpu_count() or 1) > 1:
        with contextlib.suppress(PermissionError, OSError):
            policy = os.SCHED_RR
            os.sched_setscheduler(0, policy, os.sched_param(os.sched_get_priority_min(policy)))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mlockall(_MCL_CURRENT | _MCL_FUTURE)  # failure (no privilege, a limit) leaves it unlocked


def jiffy_aligned_start(clock: float, wall: float) -> float:
    """When the script's time 0 is on `clock`: 250 us after the tenth tick of times(2) from now.

    `clock` and `wall` are the caller's clock and time.monotonic() read together (the spin
    reads the latter)."""
    last = os.times().elapsed
    ticks = 0
    tick_at = time.monotonic()
    while ticks < _TARGET_JIFFY_TICKS:
        now = os.times().elapsed
        if now != last:
            tick_at = time.monotonic()
            ticks += 1
        last = now
    return clock + (tick_at - wall) + _JIFFY_OFFSET
