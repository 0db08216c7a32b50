"""Linux's packetdrill scripts refereed by real packetdrill: per folder, the kernel's passes and the runner's.

`referee_paths` runs every script under real packetdrill against this
machine's kernel (referee.py), then runs the runner over the same scripts
against minitcp in virtual time and, when asked, against the runner's own
kernel target, and tells per folder: scripts, the kernel's passes, each
target's passes, and how often each target's verdict (pass or fail) is the
kernel's. Every script the kernel passes and a target fails is named with the
target's first failure reason; for the runner's kernel target, every script
whose verdict differs from packetdrill's is named with both reasons (the
runner's kernel target is proven against packetdrill by that agreement).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import DEFAULT_DEFINES, find_scripts, ipv6_runs, run_paths
from . import _selected as _matches  # the runner's own rule for -k
from .failure import script_tolerance, strictly_agree
from .kernel_pool import WORKERS as KERNEL_WORKERS
from .packetdrill_build import DEFAULT_BUILD, DEFAULT_SOURCE, build_packetdrill
from .packetdrill_common import prepare_workspace
from .referee import WORKERS, run_scripts
from .report import Result

# What each target's column is called: the runner's kernel target is not the kernel's referee.
TARGET_NAMES = {"minitcp": "minitcp", "kernel": "runner-kernel"}


@dataclasses.dataclass
class RefereeReport:
    kernel: list[Result]  # real packetdrill against this machine's kernel
    targets: dict[str, list[Result]]  # "minitcp" / "kernel" (the runner's) -> results, same order
    seconds: float = 0.0

    def folders(self) -> dict[str, dict[str, int]]:
        """folder -> {"scripts", "kernel" (its passes), and per target (by its TARGET_NAMES name)
        its passes, "<name> agrees" (the same verdict) and "<name> strict" (strict agreement:
        failure.py)}."""
        counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for i, k in enumerate(self.kernel):
            row = counts[_folder(k.name) + (" (ipv6)" if k.ip_version == 6 else "")]
            row["scripts"] += 1
            row["kernel"] += k.ok
            for target, results in self.targets.items():
                row[TARGET_NAMES[target]] += results[i].ok
                row[f"{TARGET_NAMES[target]} agrees"] += results[i].ok == k.ok
                row[f"{TARGET_NAMES[target]} strict"] += strictly_agree(
                    k.reason, results[i].reason, script_tolerance(k.script))
        return {folder: dict(row) for folder, row in sorted(counts.items())}

    def totals(self) -> dict[str, int]:
        total: collections.Counter[str] = collections.Counter()
        for row in self.folders().values():
            total.update(row)
        return dict(total)

    def kernel_only(self, target: str) -> list[tuple[str, str | None]]:
        """(script, the target's first failure) for each script the kernel passes and `target` fails."""
        return [(k.name, t.reason) for k, t in zip(self.kernel, self.targets[target], strict=True)
                if k.ok and not t.ok]

    def disagreements(self, target: str) -> list[tuple[str, str | None, str | None]]:
        """(script, packetdrill's reason, the target's reason) wherever their verdicts differ."""
        return [(k.name, k.reason, t.reason) for k, t in zip(self.kernel, self.targets[target], strict=True)
                if k.ok != t.ok]

    @property
    def ok(self) -> bool:
        """Every script the kernel passes, every target passes too."""
        return not any(self.kernel_only(target) for target in self.targets)

    def as_dict(self) -> dict[str, Any]:
        scripts = []
        for i, k in enumerate(self.kernel):
            entry: dict[str, Any] = {"script": k.name, "kernel": {"ok": k.ok, "reason": k.reason}}
            if k.ignored:
                entry["kernel"]["notes"] = k.ignored
            for target, results in self.targets.items():
                entry[TARGET_NAMES[target]] = {"ok": results[i].ok, "reason": results[i].reason}
            scripts.append(entry)
        return {
            "referee": "packetdrill",
            "folders": self.folders(),
            "totals": self.totals(),
            "kernel_passes_target_fails": {TARGET_NAMES[t]: [{"script": n, "reason": r}
                                                              for n, r in self.kernel_only(t)]
                                           for t in self.targets},
            "scripts": scripts,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def format_text(self) -> str:
        folders = self.folders()
        width = max([len("folder"), *map(len, folders)])
        heads = ["scripts", "kernel"]
        for target in self.targets:
            heads += [TARGET_NAMES[target], "agree", "strict"]
        widths = [max(len(h), 7) for h in heads]

        def line(label: str, values: Sequence[object]) -> str:
            cells = (f"{v!s:>{w}}" for v, w in zip(values, widths, strict=True))
            return "  ".join([f"{label:<{width}}", *cells])

        rule = "-" * len(line("", heads))
        out = [line("folder", heads), rule]
        for folder, row in [*folders.items(), ("total", self.totals())]:
            if folder == "total":
                out.append(rule)
            values: list[object] = [row.get("scripts", 0), row.get("kernel", 0)]
            for target in self.targets:
                name = TARGET_NAMES[target]
                values += [row.get(name, 0), row.get(f"{name} agrees", 0), row.get(f"{name} strict", 0)]
            out.append(line(folder, values))
        out.append("kernel: real packetdrill against this machine's kernel (CUBIC); agree: the same verdict "
                   "(both pass, or both fail) as the kernel; strict: both pass, or both fail at the same "
                   "line with the same segment (flags, seq, ack, length) or call result, within the script's "
                   "tolerance")
        totals = self.totals()
        scripts = totals.get("scripts", 0)
        for target in self.targets:
            name = TARGET_NAMES[target]
            agreed = totals.get(f"{name} agrees", 0)
            rate = 100.0 * agreed / scripts if scripts else 0.0
            strict = totals.get(f"{name} strict", 0)
            out.append(f"{name}: {totals.get(name, 0)}/{scripts} passed; the kernel's verdict on "
                       f"{agreed}/{scripts} ({rate:.1f}%); strict agreement on {strict}/{scripts}")
        for target in self.targets:
            name = TARGET_NAMES[target]
            if target == "kernel":
                rows = self.disagreements(target)
                if rows:
                    out += ["", f"Where {name} and packetdrill disagree (packetdrill | {name}):"]
                    out += [f"  {n}: {'pass' if k is None else k} | {'pass' if t is None else t}"
                            for n, k, t in rows]
                continue
            rows2 = self.kernel_only(target)
            if rows2:
                out += ["", f"The kernel passes, {name} fails ({len(rows2)}), with {name}'s first failure:"]
                out += [f"  {n}: {r}" for n, r in rows2]
        failed = [k for k in self.kernel if not k.ok]
        if failed:
            out += ["", f"The kernel fails ({len(failed)}), with packetdrill's first error:"]
            out += [f"  {k.name}: {k.reason}" for k in failed]
        notes = [(k.name, note) for k in self.kernel for note in k.ignored]
        if notes:
            out += ["", "Notes on the kernel's runs:"]
            out += [f"  {n}: {note}" for n, note in notes]
        out += ["", f"{len(self.kernel)} scripts in {self.seconds:.1f} s"]
        return "\n".join(out)


def referee_paths(paths: Iterable[str], *, targets: Sequence[str] = ("minitcp",), pattern: str | None = None,
                  defines: Iterable[str] = DEFAULT_DEFINES, workers: int = WORKERS,
                  kernel_workers: int = KERNEL_WORKERS, source: Path = DEFAULT_SOURCE,
                  build_dir: Path = DEFAULT_BUILD, ip_version: str = "4") -> RefereeReport:
    """Build packetdrill (packetdrill_build.py: BuildError when it cannot be), run the scripts under
    `paths` whose name matches `pattern` under it, then under the runner against each of `targets`.
    `ip_version` (run_paths'): "both" also plays each script not ending in v4.pkt over IPv6 on both
    sides, "6" only so (the minitcp target only)."""
    started = time.monotonic()
    paths = list(paths)
    scripts = [(p, n) for p, n in find_scripts(paths) if _matches(n, pattern)]
    names = [n for _, n in (scripts if ip_version != "6" else [])]
    names += [n for _, n in ipv6_runs(scripts, ip_version)]
    kernel = packetdrill_results(paths, pattern=pattern, workers=workers, source=source, build_dir=build_dir,
                                 ip_version=ip_version)
    runs: dict[str, list[Result]] = {}
    for target in targets:
        report = run_paths(paths, pattern=pattern, defines=defines, target=target, workers=kernel_workers,
                           ip_version=ip_version)
        runs[target] = report.results
        if [r.name for r in report.results] != names or [k.name for k in kernel] != names:
            raise RuntimeError(f"the {target} run did not return the scripts in order")
    return RefereeReport(kernel, runs, time.monotonic() - started)


def packetdrill_results(paths: Sequence[str], *, pattern: str | None = None, workers: int = WORKERS,
                        source: Path = DEFAULT_SOURCE, build_dir: Path = DEFAULT_BUILD,
                        ip_version: str = "4") -> list[Result]:
    """Build packetdrill (BuildError when it cannot be) and run the scripts under `paths` whose name
    matches `pattern` under it against this machine's kernel; results in find_scripts order, the
    IPv4 runs and then (`ip_version` 6 or both: run_paths') the IPv6 ones, as run_paths orders them."""
    build = build_packetdrill(source, build_dir)
    kernel: list[Result] = []
    for ipv6 in ([False] if ip_version == "4" else [True] if ip_version == "6" else [False, True]):
        # Each folder given has its own `common/` (set_sysctls.py) and its own workspace.
        for root in paths:
            suite = Path(root) if Path(root).is_dir() else Path(root).parent
            mine = [(p, n) for p, n in find_scripts([root]) if _matches(n, pattern)]
            if ipv6:
                mine = ipv6_runs(mine, ip_version)
            workdir = prepare_workspace(build_dir / "workspace", _suite_root(suite))
            kernel += run_scripts(build, mine, workdir, workers=workers, ipv6=ipv6)
    return kernel


def _suite_root(folder: Path) -> Path:
    """The nearest folder at or above `folder` that has `common/` (a script given alone)."""
    for candidate in (folder, *folder.resolve().parents):
        if (candidate / "common").is_dir():
            return candidate
    return folder


def _folder(name: str) -> str:
    """A script's top folder (fastopen/client/x.pkt counts under fastopen)."""
    head, _, _ = name.partition("/")
    return head if "/" in name else "."
