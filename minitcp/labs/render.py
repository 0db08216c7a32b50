"""What a learner sees: ladder, state timelines, counters, explanation, and the verdict."""

from __future__ import annotations

import textwrap

from minitcp.trace.ladder import render_ladder

from .base import HOST, Result


def render(result: Result, *, lang: str = "en", ascii: bool = False) -> str:
    lab = result.lab
    peer = "a second minitcp stack, virtual time (--sim)" if result.sim else \
        "the Linux kernel (private namespace)"
    out = [f"== {lab.name}: {lab.title}", f"   seed: {lab.seed}", f"   peer: {peer}"]
    syns = [e for e in result.trace.segments(HOST) if e.flags == "S"]
    if syns:  # who sent the first SYN is the client
        role = "client" if syns[0].direction == "out" else "server"
        out.append(f"   minitcp is the {role}")
    out += [f"   {n}" for n in result.notes]
    out += ["", render_ladder(result.trace, ascii=ascii, conversation=None), ""]
    out.append("states over time (ms, as in the ladder):" if result.sim else
               "states over time (ms, as in the ladder; linux: what `ss -tan` showed, every 20 ms):")
    for who, lines in result.states.items():
        name = who if result.sim or who == "minitcp" else "linux"
        for conv, line in lines.items():
            path = " → ".join(f"{s} @{t * 1000:.0f}" for t, s in line)
            out.append(f"  {name:8} {conv:44} {path}")
    out.append("counters that moved:")
    for who, moved in result.counters.items():
        who = who if result.sim or who == "minitcp" else "linux"
        out.append(f"  {who:8} " + (", ".join(f"{k} {v:+d}" for k, v in sorted(moved.items())) or "none"))
    # Chinese characters are two columns wide: half as many per line.
    explanation = textwrap.fill(lab.zh, 50) if lang == "zh" else textwrap.fill(lab.en, 100)
    out += ["", explanation, ""]
    ok, bad = ("✓", "✗") if not ascii else ("ok ", "BAD")
    for c in result.checks:
        out.append(f"  {ok if c.ok else bad} {c.what}")
    if result.error:
        out.append(f"  {bad} the lab itself failed: {result.error}")
        if not result.sim:
            out.append("    (no TUN device or namespace here? --sim runs the lab against a second stack)")
    out.append(f"verdict: {result.verdict.upper()}")
    return "\n".join(out)
