"""Every lab, run with --sim (a second minitcp stack, virtual time): each must pass, in milliseconds.

Plus a negative control (a lab whose fault does not happen must fail), the JSON
shape, the SVG, the Chinese text and the command-line entry points.
"""

from __future__ import annotations

import argparse
import json

import pytest

from minitcp.labs import LABS, get, run_lab
from minitcp.labs.cli import add_lab_parser, run_lab_command
from minitcp.labs.render import render


@pytest.mark.parametrize("name", list(LABS))
def test_every_lab_passes_in_sim(name: str) -> None:
    result = run_lab(get(name), sim=True)
    failed = [c.what for c in result.checks if not c.ok]
    assert result.verdict == "pass", (failed, result.error)
    assert len(result.checks) >= 3


def test_a_lab_whose_fault_does_not_happen_fails() -> None:
    """first-fin-lost with a rule that drops nothing: the FIN goes once, so the verdict is fail."""
    result = run_lab(get("first-fin-lost"), sim=True, faults=["drop:dir=out,flags=S,nth=5"])
    assert result.verdict == "fail"
    bad = [c.what for c in result.checks if not c.ok]
    assert any("sent twice" in w for w in bad)
    assert "✗" in render(result)


def test_a_lab_with_the_wrong_knob_fails() -> None:
    """fin-retries-exhausted expects 4 FINs; with every FIN passing there is nothing to give up."""
    result = run_lab(get("fin-retries-exhausted"), sim=True, faults=[])
    assert result.verdict == "fail"


def test_output_has_ladder_states_counters_explanation_and_verdict() -> None:
    text = render(run_lab(get("first-fin-lost"), sim=True))
    assert "FIN seq=1 ack=1" in text and "[dropped]" in text
    assert "FIN_WAIT_1 → FIN_WAIT_2" in text
    assert "RetransSegs +1" in text
    assert "✓ the client's FIN was sent twice" in text
    assert text.rstrip().endswith("verdict: PASS")
    zh = render(run_lab(get("first-fin-lost"), sim=True), lang="zh")
    assert "第一次挥手" in zh and "tcp_orphan_retries" in zh


def test_json_result() -> None:
    data = json.loads(json.dumps(run_lab(get("close-client-first"), sim=True).to_json()))
    assert data["lab"] == "close-client-first" and data["verdict"] == "pass"
    assert {"trace", "states", "counters", "checks"} <= set(data)
    assert all(set(c) == {"what", "ok"} for c in data["checks"])
    assert any(e["kind"] == "segment" for e in data["trace"])


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_lab_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["lab", *argv])


def test_cli_list_and_run(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert run_lab_command(_args("list", "--json")) == 0
    names = [lab["name"] for lab in json.loads(capsys.readouterr().out)]
    assert names == list(LABS)
    svg = f"{tmp_path}/ladder.svg"
    assert run_lab_command(_args("syn-lost", "--sim", "--svg", svg, "--lang", "zh")) == 0
    assert "verdict: PASS" in capsys.readouterr().out
    with open(svg) as f:
        assert "<svg" in f.read()
    no_loss = ("--fault", "drop:dir=out,flags=S,nth=9")
    assert run_lab_command(_args("first-fin-lost", "--sim", "--json", *no_loss)) == 1
    assert json.loads(capsys.readouterr().out)["verdict"] == "fail"
    assert run_lab_command(_args("no-such-lab", "--sim")) == 2


def test_the_seed_questions_all_have_labs() -> None:
    seeds = " ".join(lab.seed for lab in LABS.values())
    for q in ("四次挥手过程", "第一次挥手丢失", "第二次挥手丢失", "第三次挥手丢失", "第四次挥手丢失",
              "为什么需要 TIME_WAIT", "TIME_WAIT 过多", "CLOSE_WAIT", "关闭socket的方法", "延迟确认"):
        assert q in seeds, q


@pytest.mark.parametrize(("text", "seconds"), [("2sec", 2.0), ("2.032ms", 2.032), ("200ms", 0.2),
                                               ("1min5sec", 65.0), ("12sec", 12.0)])
def test_reading_ss_timers(text: str, seconds: float) -> None:
    """iproute2 writes 2 s 32 ms as "2.032ms": the labs must not read that as milliseconds."""
    from minitcp.labs.sides import ss_seconds

    assert ss_seconds(text) == pytest.approx(seconds)
