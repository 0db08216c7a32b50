"""A failure as facts: the line, what the stack was seen to do there, and when.

Strict agreement (`--compare`, `make conformance-linux`) holds two failures
equal only when they failed at the same line having seen the same thing: the
same segment (flags, sequence, acknowledgement, payload length), or the same
system-call result, or nothing at all, at times within the script's tolerance
of each other. The facts are read back from the failure reasons both sides
print, so that real packetdrill and the runner are read alike:

- packetdrill (run_packet.c, run_system_call.c, run.c, code.c): a packet
  mismatch prints the `actual packet: TIME SEGMENT` it saw; a timing error
  `expected outbound packet at A sec but happened at B sec` (the segment
  matched: it is the script's, `script packet: ...`); a call prints
  `Expected result R but got X with errno N (...)` or `Bad getsockopt optval:
  expected: R actual: X`, or, returning at the
  wrong time, `expected system call return at A sec but happened at B sec`;
  `Timed out waiting for packet` when nothing came; `error in Python code`
  for a `%{ }%` assertion.
- the runner (packets.py, syscalls.py, commands.py): `... minitcp sent
  `SEGMENT` at T s`, `sent nothing (its next segment: `SEGMENT` at T s)`,
  `` `SCRIPT` sent late at T s``, `write() returned X, script expects ...`,
  `write() returned at T s`, `getsockopt(SO_RCVBUF) gave [X]`, `assertion
  failed: ...`.

A segment that came instead of an expected one is the segment seen: the
runner's "sent nothing, its next segment X" and packetdrill's mismatch with
the retransmission X it sniffed later are the same observation.
"""

from __future__ import annotations

import dataclasses
import errno
import re

# What a failure saw, beside the segment or call result it names.
SEGMENT = "segment"  # a segment (flags, seq, ack, length): `observed` holds it
NOTHING = "nothing"  # no segment came at all
CALL = "call"  # a system call's result: `observed` holds it ("-1 EAGAIN", "10", "on time")
CODE = "code"  # a `%{ }%` assertion failed
OTHER = "other"  # anything else (unsupported, a command failed, gave up): `observed` holds the text

# A segment as both print it: `[ect0] P. 1:1001(1000) ack 1 win ...`, `S. 0:0(0) ack 1 ...`.
_SEGMENT = re.compile(r"(?:\[\w+\]\s+)?([A-Z.\-]+)\s+(\d+):(\d+)\((\d+)\)(?:\s+ack\s+(\d+))?")
_RUNNER_LINE = re.compile(r"line (\d+): (.*)", re.DOTALL)
_PACKETDRILL_LINE = re.compile(r"\S+\.pkt:(\d+): (.*)", re.DOTALL)
_ERRNO = re.compile(r"with errno (\d+)")
_RESULT = re.compile(r"Expected (?:result -?\d+|non-negative result) but got (-?\d+)")


@dataclasses.dataclass(frozen=True)
class Failure:
    line: int | None
    kind: str  # SEGMENT, NOTHING, CALL, CODE or OTHER
    observed: object = None  # (flags, seq, ack, length) for SEGMENT, the result for CALL, text for OTHER
    at: float | None = None  # seconds from the script's start, when the message says

    def agrees(self, other: Failure, tolerance: float) -> bool:
        """The same line, the same observation, and times (when both are known) within `tolerance`."""
        if (self.line, self.kind, self.observed) != (other.line, other.kind, other.observed):
            return False
        if self.at is None or other.at is None:
            return True
        return abs(self.at - other.at) <= tolerance + 1e-6


def segment_of(text: str) -> tuple[str, int, int | None, int] | None:
    """(flags, seq, ack, length) of the first segment written in `text`, or None."""
    m = _SEGMENT.search(text)
    if m is None:
        return None
    return (m[1], int(m[2]), int(m[5]) if m[5] is not None else None, int(m[4]))


def parse_failure(reason: str | None) -> Failure | None:
    """The facts of a failure reason, from the runner or from packetdrill (referee.first_error);
    None for a pass."""
    if reason is None:
        return None
    found = _PACKETDRILL_LINE.match(reason)
    if found:
        return _packetdrill(int(found[1]), found[2])
    found = _RUNNER_LINE.match(reason)
    if found:
        return _runner(int(found[1]), found[2])
    unexpected = re.match(r"unexpected segment no line took: `([^`]*)` sent at ([\d.]+) s", reason)
    if unexpected:
        return Failure(None, SEGMENT, segment_of(unexpected[1]), float(unexpected[2]))
    return Failure(None, OTHER, reason)


def _runner(line: int, rest: str) -> Failure:
    m = re.match(r"expected `.*?` at .*?, but \S+(?: \S+)? sent nothing(?: \(its next segment: `([^`]*)` at "
                 r"([\d.]+) s\))?", rest)
    if m:
        if m[1] is None:
            return Failure(line, NOTHING)
        return Failure(line, SEGMENT, segment_of(m[1]), float(m[2]))
    m = re.match(r".*?: (?:minitcp|the kernel) sent `([^`]*)` at ([\d.]+) s", rest)
    if m:
        return Failure(line, SEGMENT, segment_of(m[1]), float(m[2]))
    m = re.match(r"`([^`]*)` sent (?:early|late) at ([\d.]+) s", rest)
    if m:  # the segment matched the script's line: the script's numbers are the ones seen
        return Failure(line, SEGMENT, segment_of(m[1]), float(m[2]))
    m = re.match(r"\w+\(\) returned at ([\d.]+) s", rest)
    if m:
        return Failure(line, CALL, "on time", float(m[1]))
    m = re.match(r"\w+\(\) (?:did not return by|had not returned when)", rest)
    if m:
        return Failure(line, CALL, "blocked")
    m = re.match(r"\w+\(\) returned (.*?), script expects", rest)
    if m:
        return Failure(line, CALL, m[1])
    m = re.match(r"(?:getsockopt|ioctl)\(.*?\) gave (\[.*?\]), script expects", rest)
    if m:  # the value the call wrote back
        return Failure(line, CALL, m[1])
    m = re.match(r"`(.*)` failed: the socket table gives (.*?) \(", rest)
    if m:  # a command's output is its result; the socket table's ports are the stack's own
        return Failure(line, CALL, f"`{m[1]}` gave {m[2]}")
    if rest.startswith(("assertion failed", "cannot evaluate %{")):
        return Failure(line, CODE)
    return Failure(line, OTHER, rest)


def _packetdrill(line: int, rest: str) -> Failure:
    actual = re.search(r"actual packet:\s+([\d.]+)\s+([^;]*)", rest)
    if actual:
        return Failure(line, SEGMENT, segment_of(actual[2]), float(actual[1]))
    if "Timed out waiting for packet" in rest:
        return Failure(line, NOTHING)
    timing = re.search(r"timing error: expected (outbound packet|system call return) at [\d.]+ sec "
                       r"but happened at ([\d.]+) sec", rest)
    if timing and timing[1] == "system call return":
        return Failure(line, CALL, "on time", float(timing[2]))
    if timing:
        script = re.search(r"script packet:\s+[\d.]+\s+([^;]*)", rest)
        return Failure(line, SEGMENT, segment_of(script[1]) if script else None, float(timing[2]))
    value = re.search(r"Bad \w+ optval: expected: -?\d+ actual: (-?\d+)", rest)
    if value:
        return Failure(line, CALL, f"[{value[1]}]")
    got = _RESULT.search(rest)
    if got:
        number = _ERRNO.search(rest)
        code = int(number[1]) if number else 0
        result = f"-1 {errno.errorcode.get(code, str(code))}" if got[1] == "-1" else got[1]
        return Failure(line, CALL, result)
    if "error in Python code" in rest or "AssertionError" in rest:
        return Failure(line, CODE)
    return Failure(line, OTHER, rest)


def strictly_agree(first: str | None, second: str | None, tolerance: float) -> bool:
    """Both pass, or both fail at the same line with the same observation within `tolerance` s."""
    a, b = parse_failure(first), parse_failure(second)
    if a is None or b is None:
        return a is None and b is None
    return a.agrees(b, tolerance)


def script_tolerance(path: str) -> float:
    """The script's --tolerance_usecs in seconds (packetdrill's default, 4 ms, when it sets none)."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return 0.004
    m = re.search(r"^\s*--tolerance_usecs\s*=\s*(\d+)", text, re.MULTILINE)
    return int(m[1]) / 1e6 if m else 0.004

