"""The verdict of `minitcp soak` (minitcp/soak/report.py) from given figures: issue #17's bars.

The flood's bar: at least 99 % of the legitimate requests made during the flood succeed,
with a p99 within 5 times the one measured before it. The abandon bar: after a warm-up
cycle, no abandoned connection is left after any cycle and the RSS is flat to within 2 %.
"""

from __future__ import annotations

from minitcp.soak.report import FloodResult, SoakReport, percentile

MB = 1_000_000


def _report(**fields: object) -> SoakReport:
    """A report that passes everything but what `fields` change."""
    report = SoakReport(rss_limit=512 * MB, stack_alive=True, final_check=True, max_rss=50 * MB,
                        flows=[{"bytes": 1, "verified": True, "error": None}])  # fmt: skip
    for name, value in fields.items():
        setattr(report, name, value)
    return report


def _flood(ok: int, failed: int, before_ms: float, during_ms: float) -> FloodResult:
    return FloodResult(syns=100_000, rate=6700.0, before=[before_ms / 1000] * 100,
                       during_ok=[during_ms / 1000] * ok, during_failed=failed)  # fmt: skip


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert percentile([1.0, 2.0], 99) == 2.0
    assert percentile([], 99) is None


def test_a_flood_within_the_bars_passes() -> None:
    report = _report(flood=_flood(ok=297, failed=3, before_ms=4.0, during_ms=20.0))
    assert report.failures() == []


def test_a_flood_serving_under_99_percent_fails_the_verdict() -> None:
    report = _report(flood=_flood(ok=296, failed=4, before_ms=4.0, during_ms=4.0))
    assert any("SYN flood" in why for why in report.failures())


def test_a_flood_p99_over_5_times_its_value_before_fails_the_verdict() -> None:
    report = _report(flood=_flood(ok=300, failed=0, before_ms=4.0, during_ms=20.1))
    assert any("SYN flood" in why for why in report.failures())


def test_a_flood_with_no_request_during_it_fails() -> None:
    report = _report(flood=_flood(ok=0, failed=0, before_ms=4.0, during_ms=4.0))
    assert any("SYN flood" in why for why in report.failures())


def test_an_advisory_flood_is_reported_but_does_not_decide() -> None:
    report = _report(flood=_flood(ok=0, failed=300, before_ms=4.0, during_ms=4.0), flood_advisory=True)
    assert report.failures() == []
    assert report.as_json()["flood_passed"] is False


def test_no_flood_no_flood_bar() -> None:
    assert _report().failures() == []


def test_abandon_cycles_flat_within_2_percent_after_the_first_pass() -> None:
    rss = [40 * MB, 50 * MB, 50.9 * MB, 50.5 * MB]  # the first (the warm-up) is not compared
    report = _report(rss_by_cycle=rss, conns_by_cycle=[0, 0, 0, 0])
    assert report.failures() == []
    assert report.rss_spread is not None and abs(report.rss_spread - 0.018) < 1e-9


def test_abandon_cycles_growing_over_2_percent_fail() -> None:
    report = _report(rss_by_cycle=[50 * MB, 50 * MB, 51.1 * MB], conns_by_cycle=[0, 0, 0])
    assert any("RSS" in why for why in report.failures())


def test_connections_left_after_a_cycle_fail() -> None:
    report = _report(rss_by_cycle=[50 * MB, 50 * MB], conns_by_cycle=[0, 200])
    assert any("left" in why for why in report.failures())
