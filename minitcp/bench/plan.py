"""How much each workload of the bench does: the full sizes, the smoke test's, and the MTUs run."""

from __future__ import annotations

import dataclasses

MTUS = (1500, 65000)
OFFLOAD_MTUS = (1500,)  # bulk rows also run with the device's TSO/GSO offload on


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much of each workload; `full` is the issue's sizes, `quick` the smoke test's."""

    reps: int  # repetitions of every repeated row
    raw_packets: int  # per raw repetition (and a time bound below)
    raw_seconds: float
    bulk_bytes: int  # per bulk row, split over the repetitions
    conns: int  # connection-rate connections, split over the repetitions
    conn_concurrency: int
    echo_rtts: int  # round trips, split over the repetitions
    http_seconds: float  # per HTTP repetition
    http_requests: int  # count bound per HTTP repetition
    established: int
    timewait: int
    timewait_sources: int
    kernel_bulk_bytes: int
    loss_bytes: int  # per loss transfer (each pattern, each sender: one run, the loss being seeded)
    loss_seconds: float  # the bound on one loss transfer


FULL = Plan(reps=5, raw_packets=2_000_000, raw_seconds=2.0, bulk_bytes=10**9, conns=3000, conn_concurrency=32,
            echo_rtts=5000, http_seconds=5.0, http_requests=200_000, established=10_000, timewait=100_000,
            timewait_sources=16, kernel_bulk_bytes=10**9, loss_bytes=20 * 10**6,
            loss_seconds=120.0)  # fmt: skip
QUICK = Plan(reps=3, raw_packets=100_000, raw_seconds=0.3, bulk_bytes=20 * 10**6, conns=200,
             conn_concurrency=16, echo_rtts=300, http_seconds=1.0, http_requests=20_000, established=500,
             timewait=2000, timewait_sources=2, kernel_bulk_bytes=20 * 10**6,
             loss_bytes=300_000, loss_seconds=15.0)  # fmt: skip
