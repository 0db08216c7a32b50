"""Results of a conformance run: per script, per folder, as a table or as JSON."""

from __future__ import annotations

import collections
import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

from .differences import Difference, Differences


@dataclasses.dataclass
class Result:
    script: str  # the path as found
    name: str  # the path relative to the root it was found under
    ok: bool
    reason: str | None
    ignored: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0  # real time the run took
    difference: str | None = None  # the category, when the script is a listed Linux difference
    ip_version: int = 4  # 6: a script of IPv4 played over IPv6 too (run_paths' ip_version)

    @property
    def folder(self) -> str:
        head, _, _ = self.name.rpartition("/")
        return (head or ".") + (" (ipv6)" if self.ip_version == 6 else "")


@dataclasses.dataclass
class Report:
    results: list[Result]
    strict: bool = False
    lenient_acks: bool = False
    seconds: float = 0.0
    target: str = "minitcp"  # or "kernel": the stack the scripts ran against

    @property
    def passed(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def listed(self) -> int:
        """Failures that are listed Linux differences (linux_differences.toml)."""
        return sum(1 for r in self.results if not r.ok and r.difference is not None)

    def by_folder(self) -> dict[str, tuple[int, int, int]]:
        """folder -> (passed, failed, failed as listed Linux differences), sorted by folder."""
        counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
        for r in self.results:
            counts[r.folder][0 if r.ok else 1] += 1
            if not r.ok and r.difference is not None:
                counts[r.folder][2] += 1
        return {k: (v[0], v[1], v[2]) for k, v in sorted(counts.items())}

    def ignored_counts(self) -> collections.Counter[str]:
        """How many scripts used each sysctl or command the runner did not act on."""
        counter: collections.Counter[str] = collections.Counter()
        for r in self.results:
            counter.update(r.ignored)
        return counter

    def annotate(self, differences: Differences,
                 matches: Callable[[Difference, str | None], bool] | None = None) -> None:
        """Mark each failing result that linux_differences.toml lists with its category, when it
        fails the way the list says (so another failure of a listed script is not excused): its
        reason matches the entry's pattern, or, given `matches`, `matches(entry, reason)`."""
        for r in self.results:
            entry = differences.find(r.script)
            if entry is None or r.ok:
                listed = False
            elif matches is not None:
                listed = matches(entry, r.reason)
            else:
                listed = re.search(entry.expect, r.reason or "") is not None
            r.difference = entry.category if entry is not None and listed else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "listed_linux_differences": self.listed,
            "results": [
                {"script": r.name, "ok": r.ok, "reason": r.reason, "linux_difference": r.difference,
                 "ip_version": r.ip_version}
                for r in self.results
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def format_text(self, *, show_ignored: bool = True) -> str:
        rows = self.by_folder()
        width = max([len("folder"), *map(len, rows)])
        rule = "-" * (width + 30)
        lines = [f"{'folder':<{width}}  {'passed':>6}  {'failed':>6}  {'(linux)':>8}", rule]
        for folder, (p, f, d) in rows.items():
            lines.append(f"{folder:<{width}}  {p:>6}  {f:>6}  {d:>8}")
        lines.append(rule)
        lines.append(f"{'total':<{width}}  {self.passed:>6}  {self.failed:>6}  {self.listed:>8}")
        how = ", failing as the list says: same line, same kind" if self.target == "kernel" else ""
        lines.append(f"(linux): failures that are listed Linux differences (linux_differences.toml){how}")
        failures = [r for r in self.results if not r.ok]
        if failures:
            lines += ["", "First mismatch of each failing script:"]
            for r in failures:
                tag = f" [Linux difference: {r.difference}]" if r.difference else ""
                lines.append(f"  {r.name}: {r.reason}{tag}")
        ignored = self.ignored_counts()
        if show_ignored and ignored:
            lines += ["", "Not acted on (scripts using it):"]
            for name, count in sorted(ignored.items()):
                lines.append(f"  {name}: {count}")
        total = len(self.results)
        rate = 100.0 * self.passed / total if total else 0.0
        modes = (("the Linux kernel", self.target == "kernel"), ("strict", self.strict),
                 ("lenient ACKs", self.lenient_acks))
        mode = "".join(f" ({name})" for name, on in modes if on)
        lines += ["", f"{self.passed}/{total} passed ({rate:.1f}%){mode} in {self.seconds:.1f} s"]
        if self.listed:
            rest = total - self.listed
            rate = 100.0 * self.passed / rest if rest else 0.0
            left = self.failed - self.listed
            lines.append(f"{self.listed} failures are listed Linux differences; without them "
                         f"{self.passed}/{rest} passed ({rate:.1f}%), {left} failures left")
        return "\n".join(lines)
