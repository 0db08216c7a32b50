# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""The labs' ladders: Chinese throughout with --lang zh, one connection by default in multi-connection
labs (the others summed up), and checks that say values in words, never as Python prints them."""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from minitcp.labs import LABS, Result, get, run_lab
from minitcp.labs.base import HOST, shown
from minitcp.labs.cli import add_lab_parser, run_lab_command
from minitcp.labs.render import render
from minitcp.trace.ladder import render_ladder
from minitcp.trace.svg import render_svg
from minitcp.trace.words import width, wrap

NS = "{http://www.w3.org/2000/svg}"
# What stays as Linux, tcpdump and strace print it: tool and host names, socket calls, fields.
KEPT = {"minitcp", "linux", "fd", "seq", "ack", "len", "win", "ms", "connect", "accept", "send", "recv",
        "shutdown", "close", "dup", "conn", "all", "tcp_retransmit_skb", "x",
        # Linux's congestion states (TCP_CA_*) and the fields as `ss -i` prints them
        "Open", "Disorder", "Recovery", "Loss", "cwnd", "ssthresh", "sacked", "lost", "retrans", "inf"}


# How Python prints values: True, None, b'..', State.X, lists, tuples.
RAW = re.compile(r"\b(True|False|None)\b|\bb'|\bb\"|State\.|\[[('\"\d]|\('\w|\(\d+, \d+\)")


def english_words(text: str) -> list[str]:
    """Words a Chinese reader would have to read in English: lower-case or Capitalised words that
    are not state names (FIN_WAIT_2), flags (SYN-ACK), errno names, counters (InSegs: several
    capitals), knobs (tcp_max_tw_buckets) or in KEPT."""
    out = []
    for word in re.findall(r"[A-Za-z][A-Za-z_]*", text):
        if word in KEPT or word.isupper() or "_" in word or sum(ch.isupper() for ch in word) >= 2:
            continue
        out.append(word)
    return out


@functools.cache
def sim_result(name: str) -> Result:
    return run_lab(get(name), sim=True)


@pytest.mark.parametrize("name", list(LABS))
def test_a_chinese_ladder_has_no_english_outside_the_kept_set(name: str) -> None:
    result = sim_result(name)
    text = render_ladder(result.trace, left=HOST, conn=result.lab.ladder, lang="zh")
    assert english_words(text) == [], text
    svg = ET.fromstring(render_svg(result.trace, left=HOST, conn=result.lab.ladder, lang="zh"))
    svg_text = "\n".join(t.text or "" for t in svg.iter(NS + "text"))
    assert english_words(svg_text) == []
    assert "时间（毫秒）" in text and "时间（毫秒）" in svg_text


def test_the_kept_set_test_catches_english() -> None:
    words = english_words("丢弃（ACK ack=1）：outside the receive window")
    assert words == ["outside", "the", "receive", "window"]
    assert english_words("FIN_WAIT_1 → FIN_WAIT_2 TCPTimeWaitOverflow EADDRNOTAVAIL tcp_fin_timeout") == []


def test_chinese_ladder_words() -> None:
    result = run_lab(get("first-fin-lost"), sim=True)
    en = render_ladder(result.trace, left=HOST, conn=None)
    zh = render_ladder(result.trace, left=HOST, conn=None, lang="zh")
    assert "[dropped]" in en and "(retransmit)" in en and "time ms" in en
    assert "[被丢弃]" in zh and "(重传)" in zh and "[dropped]" not in zh
    assert "对端 198.18.0.1:80" in zh.splitlines()[0]
    closing = render_ladder(sim_result("close-client-first").trace, left=HOST, lang="zh")
    eof = next(line for line in closing.splitlines() if "recv(" in line and "= 0" in line)
    assert "数据流结束（对端的 FIN）" in eof


@pytest.mark.parametrize("name", list(LABS))
def test_checks_print_no_raw_python_values(name: str) -> None:
    for lang in ("en", "zh"):
        text = render(sim_result(name), lang=lang)
        checks = [line for line in text.splitlines() if line.startswith(("  ✓", "  ✗"))]
        for line in checks:
            assert not RAW.search(line), line


def test_shown_says_values_in_words() -> None:
    assert shown(b"new data") == '"new data"' and shown(b"x", "zh") == "“x”"
    assert shown(None) == "nothing" and shown(None, "zh") == "什么也没有"
    assert shown(True) == "yes" and shown("EPIPE") == "EPIPE"
    assert shown([("m", "F"), ("p", "R")]) == "minitcp F, peer R"
    assert shown([("p", "P.")], "zh") == "对端 P." and shown(["CLOSED", "CLOSED"], "zh") == "CLOSED、CLOSED"
    assert shown(("fin_wait2", 2.008)) == "fin_wait2,2.008sec" and shown([1448, 1448]) == "1448, 1448"


def test_wrap_breaks_between_cjk_characters_never_inside_a_word() -> None:
    text = "客户端发 FIN，进入 FIN_WAIT_1；服务端的内核自动回 ACK，调用 tcp_fin_timeout 之后" * 3
    lines = wrap(text, 30)
    assert all(width(line) <= 30 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    for a, b in itertools.pairwise(lines):
        assert not (re.search(r"[A-Za-z_0-9]$", a) and re.match(r"[A-Za-z_0-9]", b)), (a, b)
        assert not b.startswith(("，", "；", "）", "。"))  # closing punctuation stays with its word


def test_the_pieces_of_a_tso_packet_are_marked_on_the_ladder() -> None:
    """delayed-ack-two-segments: minitcp's two full segments leave as one TSO packet its host cuts
    (tcp/output.py emit): both pieces are tagged with their place in it, in both languages; the
    other segments are not."""
    result = sim_result("delayed-ack-two-segments")
    en = render_ladder(result.trace, left=HOST, conn=result.lab.ladder)
    zh = render_ladder(result.trace, left=HOST, conn=result.lab.ladder, lang="zh")
    tagged = [line for line in en.splitlines() if "[TSO " in line]
    assert len(tagged) == 2 and "len=1448 [TSO 1/2]" in tagged[0] and "len=1448 [TSO 2/2]" in tagged[1]
    assert zh.count("[TSO 分段 ") == 2
    svg = render_svg(result.trace, left=HOST, conn=result.lab.ladder)
    assert svg.count("[TSO 1/2]") == 1 and svg.count("[TSO 2/2]") == 1


def test_multi_connection_lab_draws_one_connection_and_sums_up_the_others() -> None:
    result = sim_result("time-wait-client-ports")
    text = render_ladder(result.trace, left=HOST, conn=None)
    assert text.count("SYN seq=0") == 1  # the last connection only
    assert "= -1 EADDRNOTAVAIL" in text  # the failed 11th connect() belongs to no connection: kept
    summary = text.splitlines()[-1]
    assert summary.strip().startswith("other connections: 9 (#1, #2") and "TIME_WAIT x9" in summary
    everything = render_ladder(result.trace, left=HOST, conn="all")
    assert everything.count("SYN seq=0") == 10 and "other connections" not in everything
    assert "#3 SYN seq=0" in everything  # each arrow says whose it is when several are drawn
    third = render_ladder(result.trace, left=HOST, conn=3)
    assert third.count("SYN seq=0") == 1 and "other connections: 9" in third
    port = next(e.local for e in result.trace.segments(HOST) if e.flags == "S").rsplit(":", 1)[1]
    by_port = render_ladder(result.trace, left=HOST, conn=port)
    assert f"198.18.0.2:{port}" in by_port.splitlines()[0]


def test_the_central_event_of_close_vs_shutdown_is_on_the_ladder_and_in_the_json() -> None:
    """close() on one of two handles sends nothing; shutdown() sends the FIN at once."""
    result = sim_result("close-vs-shutdown")
    calls = [d for d in result.to_json()["trace"] if d["kind"] == "call" and d["host"] == HOST]
    close = next(d for d in calls if d["call"] == "close")
    assert close["note"] == "others_open" and close["ret"] == 0
    shut = next(d for d in calls if d["call"] == "shutdown")
    assert shut["arg"] == "SHUT_WR" and shut["time"] > close["time"]
    fins = [e for e in result.trace.segments(HOST, "out") if "F" in e.flags]
    assert fins and fins[0].time == shut["time"]
    assert not any(close["time"] <= f.time < shut["time"] for f in fins)
    text = render(result)
    assert "close(fd 3) = 0 — other handle open, nothing sent" in text
    assert "send(fd 4, 4 bytes) = -1 EPIPE" in text  # sending after shutdown(SHUT_WR)
    assert "close(fd 3) = 0 — 还有别的句柄打开着，什么也不发送" in render(result, lang="zh")


def test_connections_have_colours_in_the_svg() -> None:
    result = sim_result("time-wait-client-ports")
    root = ET.fromstring(render_svg(result.trace, left=HOST, conn="all"))
    lines = [e for e in root.iter(NS + "line") if "segment" in (e.get("class") or "")]
    colours = {e.get("data-conn"): e.get("stroke") for e in lines}
    assert len(colours) == 10 and len(set(colours.values())) >= 7


def test_cli_rtt_conn_lang_svg_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="minitcp")
    add_lab_parser(parser.add_subparsers(dest="command"))
    svg = tmp_path / "ladder.svg"
    args = parser.parse_args(["lab", "time-wait-client-ports", "--sim", "--rtt", "20", "--conn", "all",
                              "--lang", "zh", "--svg", str(svg)])
    assert run_lab_command(args) == 0
    out = capsys.readouterr().out
    assert out.count("SYN seq=0") == 10 and "其他连接" not in out  # --conn all: every connection drawn
    root = ET.parse(svg).getroot()
    texts = "\n".join(t.text or "" for t in root.iter(NS + "text"))
    assert "时间（毫秒）" in texts and "#10 SYN seq=0" in texts
    lines = [e for e in root.iter(NS + "line") if e.get("data-arrive")]
    assert all(float(e.get("data-arrive") or 0) - float(e.get("data-t") or 0) == pytest.approx(0.01)
               for e in lines)  # --rtt 20: 10 ms each way
    assert run_lab_command(parser.parse_args(["lab", "close-vs-shutdown", "--sim", "--json"])) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kernel_states"] == "" and any(e["kind"] == "call" for e in data["trace"])
