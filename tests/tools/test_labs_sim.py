# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""Every lab, run with --sim (a second minitcp stack, virtual time): each must pass, in milliseconds.

Plus a negative control (a lab whose fault does not happen must fail), the JSON
shape, the SVG, the Chinese text and the command-line entry points.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re

import pytest

from minitcp.labs import LABS, Result, get, run_lab
from minitcp.labs.base import HOST
from minitcp.labs.cli import add_lab_parser, run_lab_command
from minitcp.labs.render import render
from minitcp.trace.events import SegmentEvent
from minitcp.trace.ladder import render_ladder

CJK = re.compile(r"[\u4e00-\u9fff]")


@functools.cache
def sim_result(name: str) -> Result:
    """One --sim run per lab, shared by the tests that only read it (each run is a whole scenario)."""
    return run_lab(get(name), sim=True)


def check_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("  ✓ ", "  ✗ "))]


@pytest.mark.parametrize("name", list(LABS))
def test_every_lab_passes_in_sim(name: str) -> None:
    result = sim_result(name)
    failed = [c.what for c in result.checks if not c.ok]
    assert result.verdict == "pass", (failed, result.error)
    assert len(result.checks) >= 3


@pytest.mark.parametrize("name", list(LABS))
def test_every_lab_passes_in_sim_over_ipv6(name: str) -> None:
    """`minitcp lab NAME --sim --ipv6`: the same scenario and checks, every connection IPv6."""
    result = run_lab(get(name), sim=True, ipv6=True)
    failed = [c.what for c in result.checks if not c.ok]
    assert result.verdict == "pass", (failed, result.error)
    assert result.to_json()["family"] == "ipv6"
    ends = {e.local for e in result.trace.events if isinstance(e, SegmentEvent)}
    assert ends and all(end.startswith("[2001:2::") for end in ends), ends


def test_a_lab_whose_fault_does_not_happen_fails() -> None:
    """first-fin-lost with a rule that drops nothing: the FIN goes once, so the verdict is fail."""
    result = run_lab(get("first-fin-lost"), sim=True, faults=["drop:dir=out,flags=S,nth=5"])
    assert result.verdict == "fail"
    bad = [c.what for c in result.checks if not c.ok]
    assert any("sent twice" in w for w in bad)
    assert "✗" in render(result)
    zh = render(result, lang="zh")
    assert [line[:3] for line in check_lines(zh)] == [line[:3] for line in check_lines(render(result))]
    assert any("发了两次" in line for line in check_lines(zh) if line.startswith("  ✗"))
    assert zh.rstrip().endswith("结论：未通过")


@pytest.mark.parametrize("name", list(LABS))
def test_english_output_is_english_and_says_each_check_as_written(name: str) -> None:
    result = sim_result(name)
    text = render(result)
    assert render(result, lang="en") == text
    assert check_lines(text) == [f"  {'✓' if c.ok else '✗'} {c.what}" for c in result.checks]
    # The seed question is the one Chinese line an English reader gets.
    assert [line for line in text.splitlines() if CJK.search(line)] == [f"   seed: {result.lab.seed}"]
    assert "states over time (ms, as in the ladder):" in text and "counters that moved:" in text
    assert text.endswith("verdict: PASS")


@pytest.mark.parametrize("name", list(LABS))
def test_chinese_output_says_every_check_in_chinese_with_the_same_verdicts(name: str) -> None:
    result = sim_result(name)
    en, zh = check_lines(render(result)), check_lines(render(result, lang="zh"))
    assert len(zh) == len(en) == len(result.checks)
    assert [line[:3] for line in zh] == [line[:3] for line in en]
    assert all(CJK.search(line) for line in zh), zh
    # The same facts: every number the English check states (measured or expected), the Chinese one states.
    for c in result.checks:
        assert sorted(re.findall(r"\d+", c.zh)) == sorted(re.findall(r"\d+", c.what)), (c.what, c.zh)


@pytest.mark.parametrize("name", list(LABS))
def test_chinese_output_leaves_only_the_diagram_and_its_rows_untranslated(name: str) -> None:
    """Wire notation (the ladder, state and counter rows) is the same in both; every other line is Chinese.

    A line of the wrapped explanation may hold only state names ("SYN_SENT → ESTABLISHED。"): it comes
    from `Lab.zh`, which is Chinese as a whole.
    """
    result = sim_result(name)
    zh = render(result, lang="zh")
    diagram = set(render_ladder(result.trace, left=HOST, conn=result.lab.ladder, lang="zh").splitlines())
    rows = ("  minitcp ", "  peer ")
    english = [line for line in zh.splitlines()
               if line and not CJK.search(line) and line not in diagram and not line.startswith(rows)
               and line not in result.lab.zh]
    assert english == []
    assert zh.endswith("结论：通过")


def test_a_failed_lab_says_so_in_either_language() -> None:
    broken = dataclasses.replace(sim_result("handshake"), sim=False, error="OSError: no tun")
    en, zh = render(broken), render(broken, lang="zh")
    assert "  ✗ the lab itself failed: OSError: no tun" in en and "(no TUN device" in en
    assert "  ✗ 实验本身出错：OSError: no tun" in zh and "没有 TUN 设备" in zh
    assert en.endswith("verdict: FAIL") and zh.endswith("结论：未通过")


def test_a_lab_with_the_wrong_knob_fails() -> None:
    """fin-retries-exhausted expects 4 FINs; with every FIN passing there is nothing to give up."""
    result = run_lab(get("fin-retries-exhausted"), sim=True, faults=[])
    assert result.verdict == "fail"


def test_output_has_ladder_states_counters_explanation_and_verdict() -> None:
    text = render(sim_result("first-fin-lost"))
    assert "FIN seq=1 ack=1" in text and "[dropped]" in text
    assert "FIN_WAIT_1 → FIN_WAIT_2" in text
    assert "RetransSegs +1" in text
    assert "✓ the client's FIN was sent twice" in text
    assert text.rstrip().endswith("verdict: PASS")
    zh = render(sim_result("first-fin-lost"), lang="zh")
    assert "第一次挥手" in zh and "tcp_orphan_retries" in zh
    assert "✓ 客户端的 FIN 发了两次，第一次丢失（发了 2 次）" in zh
    assert "有变化的计数器：" in zh and "RetransSegs +1" in zh


def test_json_result() -> None:
    data = json.loads(json.dumps(sim_result("close-client-first").to_json()))
    assert data["lab"] == "close-client-first" and data["verdict"] == "pass"
    assert {"trace", "states", "counters", "checks", "notes", "notes_zh"} <= set(data)
    assert all(set(c) == {"what", "ok", "zh"} for c in data["checks"])
    assert data["checks"][0]["what"].startswith("the server application reads end-of-stream")
    assert data["notes"] == ["fault rules on minitcp's link: none"]
    assert data["notes_zh"] == ["minitcp 链路上的故障规则：无"]
    assert any(e["kind"] == "segment" for e in data["trace"])


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_lab_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["lab", *argv])


def test_cli_list_and_run(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert run_lab_command(_args("list", "--json")) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [lab["name"] for lab in listed] == list(LABS)
    assert all(CJK.search(lab["title_zh"]) for lab in listed)
    assert run_lab_command(_args("list", "--lang", "zh")) == 0
    assert "四次挥手：客户端先关闭" in capsys.readouterr().out
    svg = f"{tmp_path}/ladder.svg"
    assert run_lab_command(_args("syn-lost", "--sim", "--svg", svg, "--lang", "zh")) == 0
    out = capsys.readouterr().out
    assert "== syn-lost: 第一次握手的 SYN 丢失" in out and "结论：通过" in out and "verdict" not in out
    with open(svg) as f:
        assert "<svg" in f.read()
    no_loss = ("--no-lab-faults",)
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
    from minitcp.trace.ss_parse import ss_seconds

    assert ss_seconds(text) == pytest.approx(seconds)
