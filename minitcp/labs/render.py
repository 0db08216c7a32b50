# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""What a learner sees: ladder, state timelines, counters, explanation, and the verdict."""

from __future__ import annotations

import dataclasses
import textwrap

from minitcp.trace.diagram import ConnFilter
from minitcp.trace.ladder import render_ladder
from minitcp.trace.words import wrap

from .base import HOST, Check, Result


@dataclasses.dataclass(frozen=True)
class Words:
    """The fixed lines of the output, in one language (one field each, so neither language can miss one)."""

    seed: str
    peer_sim: str
    peer_linux: str
    client: str
    server: str
    states_sim: str
    states_linux: str
    states_traced: str
    counters: str
    none: str
    failed: str
    no_tun: str
    passed: str
    not_passed: str


EN = Words(
    seed="seed: ",
    peer_sim="peer: a second minitcp stack, virtual time (--sim)",
    peer_linux="peer: the Linux kernel (private namespace)",
    client="minitcp is the client",
    server="minitcp is the server",
    states_sim="states over time (ms, as in the ladder):",
    states_linux="states over time (ms, as in the ladder; linux: what `ss -tan` showed, every 20 ms):",
    states_traced="states over time (ms, as in the ladder; linux: from its tracepoints, every change):",
    counters="counters that moved:",
    none="none",
    failed="the lab itself failed: ",
    no_tun="(no TUN device or namespace here? --sim runs the lab against a second stack)",
    passed="verdict: PASS",
    not_passed="verdict: FAIL",
)
ZH = Words(
    seed="问题：",
    peer_sim="对端：另一个 minitcp 协议栈，虚拟时间（--sim）",
    peer_linux="对端：Linux 内核（私有网络命名空间）",
    client="minitcp 是客户端",
    server="minitcp 是服务端",
    states_sim="状态随时间的变化（毫秒，与时序图一致；peer 即对端）：",
    states_linux="状态随时间的变化（毫秒，与时序图一致；linux：`ss -tan` 每 20 ms 看到的状态）：",
    states_traced="状态随时间的变化（毫秒，与时序图一致；linux：来自内核跟踪点，每次变化都记录）：",
    counters="有变化的计数器：",
    none="无",
    failed="实验本身出错：",
    no_tun="（这里没有 TUN 设备或网络命名空间？加 --sim 可改用第二个 minitcp 协议栈作对端）",
    passed="结论：通过",
    not_passed="结论：未通过",
)


def render(result: Result, *, lang: str = "en", ascii: bool = False, conn: ConnFilter = None) -> str:
    lab = result.lab
    w = ZH if lang == "zh" else EN
    title = lab.title_zh if lang == "zh" else lab.title
    peer = result.peer_said.text(lang) if result.peer_said else w.peer_sim if result.sim else w.peer_linux
    out = [f"== {lab.name}: {title}", f"   {w.seed}{lab.seed}", f"   {peer}"]
    syns = [e for e in result.trace.segments(HOST) if e.flags == "S"]
    if syns:  # who sent the first SYN is the client
        out.append(f"   {w.client if syns[0].direction == 'out' else w.server}")
    out += [f"   {n.text(lang)}" for n in result.notes]
    conn = conn if conn is not None else lab.ladder
    out += ["", render_ladder(result.trace, ascii=ascii, left=HOST, conn=conn, lang=lang), ""]
    out.append(w.states_sim if result.sim else
               w.states_traced if result.kernel_states == "tracepoints" else w.states_linux)
    for who, lines in result.states.items():
        name = who if result.sim or who == "minitcp" else "linux"
        for conv, line in lines.items():
            path = " → ".join(f"{s} @{t * 1000:.0f}" for t, s in line)
            out.append(f"  {name:8} {conv:44} {path}")
    out.append(w.counters)
    for who, moved in result.counters.items():
        who = who if result.sim or who == "minitcp" else "linux"
        out.append(f"  {who:8} " + (", ".join(f"{k} {v:+d}" for k, v in sorted(moved.items())) or w.none))
    # Chinese is broken between characters, never inside a Latin word, by display width.
    explanation = "\n".join(wrap(lab.zh, 100)) if lang == "zh" else textwrap.fill(lab.en, 100)
    out += ["", explanation, ""]
    out += [check_line(c, lang=lang, ascii=ascii) for c in result.checks]
    out += verdict_lines(result, lang=lang, ascii=ascii)
    return "\n".join(out)


def check_line(check: Check, *, lang: str = "en", ascii: bool = False) -> str:
    """`  ✓ what held` or `  ✗ what did not`."""
    return f"  {_marks(ascii)[0 if check.ok else 1]} {check.text(lang)}"


def verdict_lines(result: Result, *, lang: str = "en", ascii: bool = False) -> list[str]:
    """Why the lab itself failed (if it did), and the verdict."""
    w = ZH if lang == "zh" else EN
    out = []
    if result.error:
        out.append(f"  {_marks(ascii)[1]} {w.failed}{result.error}")
        if not result.sim:
            out.append(f"    {w.no_tun}")
    out.append(w.passed if result.passed else w.not_passed)
    return out


def _marks(ascii: bool) -> tuple[str, str]:
    return ("✓", "✗") if not ascii else ("ok ", "BAD")
