"""Helpers shared by the tests that run real packetdrill as the kernel's referee: its build (or the
reason the test is skipped) and the runner's kernel target held to packetdrill's verdicts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from minitcp.conformance import run_paths
from minitcp.conformance.failure import script_tolerance, strictly_agree
from minitcp.conformance.kernel_pool import kernel_problem
from minitcp.conformance.packetdrill_build import Build, BuildError, build_packetdrill
from minitcp.conformance.referee import run_scripts
from minitcp.conformance.report import Result

from ..helpers.shared import SHARED

REPO = Path(__file__).resolve().parents[2]
SOURCE = SHARED / "tools" / "packetdrill"
# The repository's gitignored build/packetdrill/: cached, so only the first run pays the build.
BUILD_DIR = REPO / "build" / "packetdrill"


def packetdrill_or_skip(suite: Path) -> Build:
    """packetdrill built from ../shared/tools/packetdrill; the test is skipped, with the reason,
    where it cannot be built (no compiler, bison or flex, and no root to install them) or run
    (no root, no namespaces, no `suite` to play)."""
    if os.geteuid() != 0:
        pytest.skip("real packetdrill needs root (a TUN device, mounts in its namespaces)")
    if not SOURCE.is_dir() or not suite.is_dir():
        pytest.skip(f"no packetdrill source or no scripts at {suite}")
    problem = kernel_problem()
    if problem is not None:
        pytest.skip(f"no private network namespace with a TUN device here: {problem}")
    try:
        return build_packetdrill(SOURCE, BUILD_DIR)
    except BuildError as e:
        pytest.skip(f"packetdrill cannot be built here: {e}")


def assert_runner_agrees(build: Build, workdir: Path, names: Sequence[str], referee: Sequence[Result],
                         *, strict: bool = False) -> None:
    """The runner's kernel target strictly agrees with packetdrill's `referee` results (the same
    line, segment or call result, within tolerance) on each script of `names`. Real time on a
    shared machine: both sides run again, alone, before a difference counts (a missed tolerance
    or a late wake-up does not repeat; a real difference does)."""
    runner = run_paths([pd.script for pd in referee], target="kernel", strict=strict).results
    for name, pd, ours in zip(names, referee, runner, strict=True):
        tolerance = script_tolerance(pd.script)
        for _ in range(2):
            if strictly_agree(pd.reason, ours.reason, tolerance):
                break
            pd = run_scripts(build, [(pd.script, name)], workdir)[0]
            ours = run_paths([ours.script], target="kernel", strict=strict).results[0]
        verdicts = f"packetdrill: {pd.reason or 'passes'} | runner: {ours.reason or 'passes'}"
        assert strictly_agree(pd.reason, ours.reason, tolerance), f"{name}: {verdicts}"
