"""What is measured around a workload besides its own figures, to flag the runs not to trust.

A `Snapshot` before and after a run gives the stack's CPU time, its TCP
counters (retransmissions, RTOs, ...) and the packets dropped on the
device either way; a `LoadMeter` gives the CPU time other programs and the
hypervisor took meanwhile.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import time

from .env import Env


@dataclasses.dataclass
class Snapshot:
    """What to compare before and after one run: the stack's CPU, TCP counters and link drops."""

    wall: float
    utime: float
    stime: float
    counters: dict[str, int]
    tx_dropped: int
    dev_tx_dropped: int  # the kernel's drops towards us (TUN queue full)
    preempted: int  # involuntary context switches of the stack's process

    @classmethod
    def take(cls, env: Env) -> Snapshot:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        counters = dict(env.stack.engine.counters) if env.stack is not None else {}
        return cls(time.perf_counter(), ru.ru_utime, ru.ru_stime, counters, env.link.tx_dropped,
                   dev_tx_dropped(env.link.name), ru.ru_nivcsw)

    def notes_since(self, before: Snapshot) -> list[str]:
        """Signs of trouble between two snapshots, as row notes (prefixed ! when suspicious)."""
        notes = []
        c, b = self.counters, before.counters
        for name, label in (("RetransSegs", "retransmitted"), ("TCPTimeouts", "RTO"),
                            ("TCPFastRetrans", "fast retransmits"), ("TCPConnectionErrors", "engine errors"),
                            ("ListenDrops", "listen drops"), ("TCPOFOQueue", "out-of-order")):
            d = c.get(name, 0) - b.get(name, 0)
            if d:
                notes.append(f"! {label} {d}")
        if self.tx_dropped - before.tx_dropped:
            notes.append(f"! stack->TUN drops (EAGAIN) {self.tx_dropped - before.tx_dropped}")
        if self.dev_tx_dropped - before.dev_tx_dropped:
            notes.append(f"! kernel->TUN queue drops {self.dev_tx_dropped - before.dev_tx_dropped}")
        return notes

    def cpu_since(self, before: Snapshot) -> tuple[float, float, float]:
        """(user s, system s, wall s) between two snapshots."""
        return self.utime - before.utime, self.stime - before.stime, self.wall - before.wall


def dev_tx_dropped(dev: str) -> int:
    """Packets the kernel dropped on their way to us (its TUN queue was full). From
    /proc/net/dev, which is this namespace's: /sys/class/net may show the host's devices."""
    try:
        with open("/proc/net/dev") as f:
            for line in f:
                name, sep, fields = line.partition(":")
                if sep and name.strip() == dev:
                    return int(fields.split()[11])  # receive: 8 fields; transmit: bytes packets errs drop
    except (OSError, ValueError, IndexError):
        pass
    return 0


class LoadMeter:
    """CPU time the rest of the machine used while we measured: other programs, and the hypervisor.

    From /proc/stat (the whole machine): user+nice+system, less this process's and its
    waited-for children's own time, is what other programs used; `steal` is what the
    hypervisor gave other guests. Interrupt and softirq time are left out: much of it is
    our own traffic.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float, float]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
        tick = os.sysconf("SC_CLK_TCK")
        user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields
        own = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            ru = resource.getrusage(who)
            own += ru.ru_utime + ru.ru_stime
        return time.perf_counter(), (user + nice + system) / tick, steal / tick, own

    def stop(self) -> tuple[float, float]:
        """(CPUs other programs used, CPUs stolen), averaged over the time since creation."""
        t1, busy1, steal1, own1 = self._sample()
        t0, busy0, steal0, own0 = self.start
        wall = max(t1 - t0, 1e-9)
        return max((busy1 - busy0) - (own1 - own0), 0.0) / wall, (steal1 - steal0) / wall
