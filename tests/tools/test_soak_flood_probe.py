"""`minitcp soak --flood-trace`'s breakdown (soak/flood_probe.py): each request's time split into
its packets' waits on the device's queue and in the stack, joined by the client's port, with the
stack's longest busy period meanwhile; requests outside the flood, or failed, left out."""

from __future__ import annotations

import pytest

from minitcp.soak.flood_probe import breakdown
from minitcp.wire.segment import ACK, FIN, PSH, SYN

START, END = 100.0, 101.0


def _trace() -> dict[str, list[list[float]]]:
    return {
        # start, end, CPU, packets to the host, cookies answered
        "reads": [[100.010, 100.011, 0.001, 1, 200], [100.030, 100.031, 0.001, 1, 0]],
        "handles": [[100.011, 100.040, 0.020, 256]],  # start, end, CPU, packets
        "timers": [[100.050, 100.052, 0.002]],  # start, end, CPU
        "gcs": [],
        # time, the client's port, TCP flags, payload bytes
        "rx": [[100.011, 40000, SYN, 0], [100.031, 40000, ACK | PSH, 32], [100.031, 40000, ACK, 0]],
        "tx": [[100.020, 40000, SYN | ACK, 0], [100.045, 40000, ACK | PSH, 32],
               [100.046, 40000, ACK | FIN, 0]],
    }


def test_a_request_s_time_is_split_by_packet() -> None:
    timeline = [
        [100.001, 100.021, 100.046, 40000],  # start, connected, echoed, port
        [99.0, 99.001, 99.002, 39000],  # before the flood
        [100.5, None, None, None],  # failed
    ]
    [row] = breakdown(_trace(), timeline, START, END)
    assert row["start"] == pytest.approx(0.001)
    assert row["ms"] == pytest.approx(45.0)
    assert row["syn_queue"] == pytest.approx(10.0)  # sent at 100.001, read at 100.011
    assert row["syn_stack"] == pytest.approx(9.0)  # its SYN-ACK written at 100.020
    assert row["synack_to_connected"] == pytest.approx(1.0)
    assert row["data_queue"] == pytest.approx(10.0)  # connected 100.021, data read 100.031
    assert row["data_stack"] == pytest.approx(14.0)  # the echo written at 100.045
    assert row["echo_to_done"] == pytest.approx(1.0)
    assert row["longest_busy"] == "29.0 ms handle 256, CPU 20.0 ms"


def test_slowest_first() -> None:
    timeline = [[100.2, 100.21, 100.22, 1], [100.3, 100.31, 100.35, 2], [100.4, 100.41, 100.42, 3]]
    rows = breakdown(_trace(), timeline, START, END)
    assert [r["ms"] for r in rows] == pytest.approx([50.0, 20.0, 20.0])
    assert rows[0]["syn_queue"] is None  # none of its packets seen: nothing to split
    assert "longest_busy" not in rows[0]  # the stack was idle meanwhile
