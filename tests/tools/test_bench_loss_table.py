"""The loss bench's arithmetic and table: ratios minitcp / kernel, the 20 % mark, the rows' shape."""

from __future__ import annotations

from minitcp.bench.loss import LossRun, loss_table, passes, ratio


def test_ratio_and_the_20_percent_mark() -> None:
    assert ratio(12, 10) == 1.2 and passes("retrans", 12, 10) and not passes("retrans", 13, 10)
    assert ratio(0, 0) == 1.0 and passes("rto", 0, 0)
    assert ratio(3, 0) is None and not passes("rto", 3, 0)  # the kernel needed none: no ratio, a fail
    assert passes("goodput", 8.4, 10) and not passes("goodput", 8.0, 10)  # higher is better
    assert passes("seconds", 5, 10)  # faster than the kernel passes
    assert ratio(None, 4) is None and not passes("tlp", None, 4)  # not counted


def test_table_has_two_rows_and_a_ratio_row_per_pattern() -> None:
    runs = [
        LossRun("loss1", "minitcp", 10**6, 2.0, 30, 1, 3, None, True),
        LossRun("loss1", "kernel", 10**6, 1.0, 25, 0, 0, 2, True),
        LossRun("mix", "minitcp", 400_000, 20.0, 9, 2, 5, None, False, timeout=True),
        LossRun("mix", "kernel", 10**6, 3.0, 9, 2, 1, 0, True),
    ]
    lines = loss_table(runs).splitlines()
    body = [line.split() for line in lines[2:8]]
    assert body[0] == ["loss1", "minitcp", "30", "1", "3", "-", "2.00", "0.50", "yes"]
    assert body[1] == ["loss1", "kernel", "cubic", "25", "0", "0", "2", "1.00", "1.00", "yes"]
    assert body[2] == ["minitcp/kern", "1.20", "PASS", "FAIL", "FAIL", "2.00", "FAIL", "0.50", "FAIL"]
    assert body[3][-1] == "timeout"  # a transfer cut by its bound is not called corrupt
    assert body[5] == ["minitcp/kern", "1.00", "PASS", "1.00", "PASS", "5.00", "FAIL", "6.67", "FAIL", "0.06",
                       "FAIL"]


def test_table_says_the_load_the_rows_ran_under() -> None:
    runs = [LossRun("loss1", "minitcp", 10**6, 2.0, 30, 1, 3, None, True, load=1.5),
            LossRun("loss1", "kernel", 10**6, 1.0, 25, 0, 0, 2, True, load=7.25)]
    table = loss_table(runs)
    assert "load average (1 min) as the transfers ended: 1.5 to 7.2 on" in table
    assert "load average" not in loss_table([LossRun("loss1", "minitcp", 10**6, 2.0, 30, 1, 3, None, True)])


def test_a_row_of_many_transfers_is_their_median() -> None:
    runs = [LossRun("reorder", "minitcp", 10**6, t, r, d, 0, p, True, load=load)
            for t, r, d, p, load in ((0.4, 16, 10, 0, 0.2), (0.5, 12, 4, None, 0.9), (0.3, 20, 6, 1, 0.1))]
    row = LossRun.median_of(runs)
    assert (row.retrans, row.spurious, row.seconds, row.runs, row.load) == (16, 6, 0.4, 3, 0.9)
    assert row.tlp == 0.5 and row.intact  # the median of the two that counted probes
    runs[1].intact = False
    assert not LossRun.median_of(runs).intact  # one corrupt transfer makes the row's verdict
    kern = LossRun.median_of([LossRun("reorder", "kernel", 10**6, 0.4, 13, 5, 0, 0, True)] * 3)
    lines = loss_table([row, kern]).splitlines()
    assert lines[2].split() == ["reorder", "minitcp", "16", "6", "0", "0.5", "0.40", "2.50", "yes", "(median",
                                "of", "3)"]
    assert lines[4].split()[1:3] == ["1.23", "FAIL"]  # 16 against 13: the medians are compared
