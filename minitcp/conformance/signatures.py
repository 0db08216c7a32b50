"""What a failure is, without what changes from run to run: its line and the kind of mismatch.

Two stacks fail a script "the same way" when their failures have the same
signature: the same line and the same kind (`flags . instead of F.`, `sent
nothing`, `sent late`, `recv() returned -1 EAGAIN`, `getsockopt(SO_ERROR)
gave [ECONNRESET]`, ...). Left out: what was sent (windows, timestamps, the
kernel's random ISN-relative numbers are already script numbers), the times,
the "next segment" note, which stack it was. The values that are script
numbers stay: `ack 101 instead of 100` differs from `ack 102 instead of 100`.

A linux_differences.toml `expect` pattern is a failure reason escaped
(differences.expect_pattern), so its signature can be read back from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .differences import Difference

_SUBJECT = r"(?:minitcp|the kernel)"
# Mismatches whose value is the stack's own choice rather than a script number.
_VALUELESS = ("window ", "TS val ", "TS ecr ")

Kind = Callable[[re.Match[str]], str]
_LINE_KINDS: list[tuple[re.Pattern[str], Kind]] = [
    (re.compile(rf"expected `.*` at .*, but {_SUBJECT} sent nothing"), lambda m: "sent nothing"),
    (re.compile(rf"{_SUBJECT} sent a packet that is not TCP"), lambda m: "sent a packet that is not TCP"),
    (re.compile(rf"(.*?): {_SUBJECT} sent `"),
     lambda m: next((v.strip() for v in _VALUELESS if m[1].startswith(v)), m[1])),
    (re.compile(r"`.*` sent (early|late) at"), lambda m: f"sent {m[1]}"),
    (re.compile(r"(\w+)\(\) (?:did not return by|had not returned when)"),
     lambda m: f"{m[1]}() did not return"),
    (re.compile(r"(\w+)\(\) returned at ([\d.]+) s, script expects it at ([\d.]+) s"),
     lambda m: f"{m[1]}() returned {'late' if float(m[2]) > float(m[3]) else 'early'}"),
    (re.compile(r"(\w+)\(\) returned (.*?), script expects"), lambda m: f"{m[1]}() returned {m[2]}"),
    (re.compile(r"(\w+)\(\) raised (\w+)"), lambda m: f"{m[1]}() raised {m[2]}"),
    (re.compile(r"getsockopt\((\w+)\) gave \[(.*?)\]"), lambda m: f"getsockopt({m[1]}) gave [{m[2]}]"),
    (re.compile(r"(`.*`) failed: the socket table gives"), lambda m: f"{m[1]} failed"),
    (re.compile(rf"assertion failed: (.*) \({_SUBJECT}: (\w+),"), lambda m: f"assertion failed in {m[2]}"),
    (re.compile(r"runner gave up"), lambda m: "gave up"),
]


def failure_signature(reason: str | None) -> str:
    """`line N: KIND`, or a failure without a line as it is (`unexpected segment F.`, `unsupported: ...`)."""
    if reason is None:
        return "passed"
    m = re.match(r"line (\d+): (.*)", reason, re.DOTALL)
    if m is None:
        unexpected = re.match(r"unexpected segment no line took: `(\S*)", reason)
        if unexpected:
            return f"unexpected segment {unexpected[1]}"
        return "gave up" if reason.startswith("the kernel target gave up") else reason
    line, rest = m[1], m[2]
    for pattern, kind in _LINE_KINDS:
        found = pattern.match(rest)
        if found:
            return f"line {line}: {kind(found)}"
    return f"line {line}: {rest}"


def pattern_reason(expect: str) -> str:
    """The failure reason an `expect` pattern was made from, its wildcards left empty."""
    text = expect.removeprefix("^").replace("[^`]*", "").replace(r"\d+", "0")
    return re.sub(r"\\(.)", r"\1", text)


def same_failure(entry: Difference, reason: str | None) -> bool:
    """Whether `reason` is the failure the list's entry describes (same signature)."""
    return reason is not None and failure_signature(reason) == failure_signature(pattern_reason(entry.expect))
