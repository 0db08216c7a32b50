"""`minitcp bench --quick --only loss`: every pattern, both senders, bytes checked at the receiver.

The loss group runs its seeded fault rules on TUN in the bench's own namespace, minitcp sending
to a kernel receiver and the kernel (CUBIC) sending to minitcp. Nothing here asserts a speed or a
ratio: those depend on the machine and on the engine (docs/loss-recovery.md has the figures).
What must hold: the table has its shape (a row per pattern and sender, then the ratios), every
transfer's bytes arrived intact, the faults really fired on the data direction, and the kernel's
losses were real to it (it retransmitted). The quick run takes about 15 s; the bound is 120 s.
`make test` runs two patterns (`--only loss_burst,loss_mix`: the fixed bursts, and the mix of
drops, duplicates and reordering both ways); all five are marked slow (`make test-slow`).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from minitcp.bench.loss import PATTERNS, rules

LIMIT = 120.0


def test_rules_put_losses_on_the_data_direction_and_delay_on_the_acks() -> None:
    for pattern in PATTERNS:
        for data, acks in (("out", "in"), ("in", "out")):
            found = rules(pattern, data, 1000)
            assert found[-1] == f"delay:dir={acks},ms=20"
            assert any(r.startswith(("drop", "delay", "reorder")) and f"dir={data}" in r for r in found[:-1])
    burst = [r for r in rules("burst", "out", 1000) if r.startswith("drop")]
    assert len(burst) == 40 and burst[:5] == [f"drop:dir=out,nth={n}" for n in range(111, 116)]


@pytest.mark.parametrize("patterns", [
    pytest.param(("burst", "mix"), id="burst-mix"),
    pytest.param(PATTERNS, id="all", marks=pytest.mark.slow),
])
def test_bench_quick_loss_table(patterns: tuple[str, ...]) -> None:
    only = ",".join(f"loss_{p}" for p in patterns)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "minitcp.cli", "bench", "--quick", "--only", only],
                          capture_output=True, text=True, timeout=LIMIT)
    print(f"\nminitcp bench --quick --only {only}: {time.monotonic() - start:.1f} s\n{done.stdout[-3000:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout[done.stdout.index("loss recovery, side by side"):].splitlines()
    for pattern in patterns:
        mine = [line for line in table if line.startswith(f"{pattern} ") and "minitcp " in line]
        kern = [line for line in table if line.startswith(f"{pattern} ") and "kernel cubic" in line]
        assert len(mine) == 1 and len(kern) == 1, (pattern, table)
        for line in mine + kern:
            cells = line.split()
            assert cells[-1] == "yes", f"bytes not intact: {line}"  # SHA-256 of the pattern matched
            assert len(cells) == 1 + 1 + (1 if "kernel" in line else 0) + 6 + 1, line
    ratios = [line for line in table if "minitcp/kern" in line]
    assert len(ratios) == len(patterns)
    for line in ratios:
        assert line.count("PASS") + line.count("FAIL") == 5, line  # retrans, dsack, RTOs, seconds, MB/s
    # The faults fired where they should, and the kernel saw its losses as losses.
    notes = done.stdout
    for pattern in {"loss3", "burst", "mix"} & set(patterns):
        assert f"loss_{pattern}_minitcp_goodput: faults: drop (out)" in notes, pattern
        assert f"loss_{pattern}_kernel_goodput: faults: drop (in)" in notes, pattern
    kernel_burst = next(line for line in table if line.startswith("burst ") and "kernel" in line)
    assert int(kernel_burst.split()[3]) >= 5  # retrans: the 5-segment bursts were resent
