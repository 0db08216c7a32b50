"""The bench's bookkeeping: medians, spread flags, targets, the flat JSON and the table (no I/O)."""

from __future__ import annotations

from minitcp.bench.stats import Row, format_table, percentile
from minitcp.bench.suite import REQUIRED_KEYS, flat


def test_row_median_min_max_and_spread() -> None:
    row = Row("bulk_in_1500_MBps", "MB/s")
    for v in (100, 104, 98, 40, 101):
        row.add(v)
    assert (row.median, row.min, row.max) == (100, 40, 104)
    assert row.suspicious() is not None  # one run at 40 % of the median: a stall, not noise
    steady = Row("x", "MB/s", values=[100, 105, 95])
    assert steady.suspicious() is None
    assert Row("once", "B", values=[5.0], check_spread=False).suspicious() is None


def test_targets_both_ways() -> None:
    assert Row("bulk_in_1500_MBps", "MB/s", values=[120]).verdict() == "met"
    assert Row("bulk_in_1500_MBps", "MB/s", values=[90]).verdict() == "NOT met"
    assert Row("echo_p50_us", "us", values=[80]).verdict() == "met"
    assert Row("echo_p50_us", "us", values=[120]).verdict() == "NOT met"
    assert Row("mem_per_timewait_B", "B").verdict() == "no data"
    assert Row("http_close_rps", "req/s", values=[1]).verdict() == ""


def test_notes_are_deduplicated_and_failures_flagged() -> None:
    row = Row("conn_per_s", "conn/s")
    row.add(2000, "! retransmitted 3")
    row.add(2100, "! retransmitted 3", "")
    row.add(None, "! failed: boom")
    assert row.notes == ["! retransmitted 3", "! failed: boom"]
    text = format_table([row], {"pinning": "not pinned", "ratio": 0.5})
    assert "conn_per_s" in text and "NOT met" in text and "! failed: boom" in text
    out = flat({"rows": [row], "extras": {"ratio": 0.5}, "quick": True})
    assert out["conn_per_s"] == 2050
    assert out["conn_per_s_target_met"] is False
    assert "retransmitted 3" in out["flags"]
    assert out["ratio"] == 0.5


def test_percentile_nearest_rank() -> None:
    values = sorted(float(x) for x in range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0


def test_required_keys_are_the_issue_list() -> None:
    assert len(set(REQUIRED_KEYS)) == len(REQUIRED_KEYS) == 16
