# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""docs/labs.md's worked example, examples/lab_half_close.py, run as a learner runs it (--sim).

Loaded from its file as `minitcp lab examples/lab_half_close.py` loads it, it must pass; with its
FIN always lost (a learner's --fault) it must fail, so its checks can tell.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from minitcp.labs import LabOptions, run_lab
from minitcp.labs.cli import add_lab_parser, run_lab_command
from minitcp.labs.registry import load_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lab_half_close.py"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="minitcp")
    add_lab_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["lab", *argv])


def test_the_worked_example_passes_in_sim() -> None:
    lab = load_file(str(EXAMPLE))
    assert lab.name == "half-close"
    result = run_lab(lab, sim=True)
    assert result.passed, [(c.what, c.ok) for c in result.checks] + [result.error]
    assert len(result.checks) == 7
    # What it claims is on the trace: minitcp's FIN, then the peer's data, then TIME_WAIT for 60 s.
    out = [(e.direction, e.flags) for e in result.trace.segments("minitcp")]
    assert out.index(("out", "F.")) < out.index(("in", "P."))
    path = [s for _, s in next(iter(result.states["minitcp"].values()))]
    assert path[-3:] == ["FIN_WAIT_2", "TIME_WAIT", "CLOSED"]


def test_the_worked_example_fails_when_its_fin_never_arrives() -> None:
    result = run_lab(load_file(str(EXAMPLE)), sim=True, options=LabOptions(faults=["drop:dir=out,flags=F"]))
    assert result.verdict == "fail"
    assert not result.checks[1].ok  # never half closed: the server never heard the FIN


def test_minitcp_lab_runs_a_python_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_lab_command(_args(str(EXAMPLE), "--sim", "--lang", "zh")) == 0
    out = capsys.readouterr().out
    assert "== half-close: 半关闭" in out and out.rstrip().endswith("结论：通过")
    empty = tmp_path / "nothing.py"
    empty.write_text("X = 1\n")
    assert run_lab_command(_args(str(empty), "--sim")) == 2
    assert "defines no LAB" in capsys.readouterr().err


def test_the_docs_show_the_example_they_name() -> None:
    docs = (ROOT / "docs" / "labs.md").read_text()
    source = EXAMPLE.read_text()
    assert "examples/lab_half_close.py" in docs and "test_labs_example.py" in docs
    for line in ('async def half_close(ctx: Ctx) -> None:', 'client, server = await ctx.open("m")',
                 "await client.shutdown()"):
        assert line in docs and line in source
