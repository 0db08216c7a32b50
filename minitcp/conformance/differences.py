"""The scripts that fail because minitcp keeps Linux's behaviour where FreeBSD's differs.

`linux_differences.toml` lists them: for each a category (why Linux differs,
with the Linux code that decides it) and `expect`, a regular expression the
failure reason must match. tests/tools/test_conformance_suite.py runs every listed
script and checks it still fails that way, so the list cannot rot: when
minitcp changes, a script that starts passing or fails for another reason
shows up. Engine bugs are never listed here (docs/conformance.md has them).

`linux_differences_ipv6.toml` lists the IPv6 twins of listed scripts that fail the same
way (../shared/conformance/freebsd-tcp-testsuite-ipv6): same category as the IPv4 twin,
whose file holds the categories (`twins_of`), its own patterns (an IPv6 script expects
its own MSS); tests/tools/test_conformance_suite_ipv6.py holds it to the same checks.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

DIFFERENCES_FILE = Path(__file__).with_name("linux_differences.toml")
DIFFERENCES_FILE_IPV6 = Path(__file__).with_name("linux_differences_ipv6.toml")


@dataclasses.dataclass(frozen=True)
class Category:
    name: str
    summary: str
    linux: str  # where Linux decides it


@dataclasses.dataclass(frozen=True)
class Difference:
    script: str  # path relative to the suite's root
    category: str
    expect: str  # a regex the failure reason matches
    note: str = ""

    def matches(self, path: str) -> bool:
        """Whether `path` (as found on disk, or relative) is this script."""
        path = path.replace("\\", "/")
        return path == self.script or path.endswith("/" + self.script)


@dataclasses.dataclass(frozen=True)
class Differences:
    suite: str
    categories: dict[str, Category]
    entries: tuple[Difference, ...]

    def find(self, path: str) -> Difference | None:
        for entry in self.entries:
            if entry.matches(path):
                return entry
        return None


def load_differences(path: Path | str = DIFFERENCES_FILE) -> Differences:
    """One list; a list of twins (`twins_of = FILE`) takes its categories from FILE beside it."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    categories = {
        name: Category(name, c["summary"], c["linux"]) for name, c in data.get("categories", {}).items()
    }
    if "twins_of" in data:
        categories = {**load_differences(Path(path).with_name(data["twins_of"])).categories, **categories}
    entries = tuple(
        Difference(d["script"], d["category"], d["expect"], d.get("note", ""))
        for d in data.get("difference", [])
    )
    for entry in entries:
        if entry.category not in categories:
            raise ValueError(f"{entry.script}: unknown category {entry.category!r}")
        re.compile(entry.expect)
    return Differences(data.get("suite", ""), categories, entries)


def load_all_differences() -> Differences:
    """Both lists as one (their scripts' names differ): what a run of either suite is marked with."""
    v4, v6 = load_differences(DIFFERENCES_FILE), load_differences(DIFFERENCES_FILE_IPV6)
    return Differences(f"{v4.suite}; {v6.suite}", v4.categories, v4.entries + v6.entries)


def expect_pattern(reason: str) -> str:
    """A regex for a failure reason that ignores what may change without changing the cause.

    What minitcp sent (`minitcp sent `...``, `its next segment: `...``) carries
    its window and timestamps, and the socket table its ephemeral ports: those
    parts match anything. What the script says is kept exactly.
    """
    reason = re.sub(r"(?<=the socket table gives).*$", "", reason)
    pieces = re.split(r"((?:minitcp sent |its next segment: )`[^`]*`)", reason)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append(re.escape(piece[: piece.index("`")]).replace("\\ ", " ") + "`[^`]*`")
        else:
            out.append(re.escape(piece).replace("\\ ", " "))
    return "^" + "".join(out)


def toml_string(text: str) -> str:
    """A TOML literal string when possible (no escapes to get wrong), else a basic one."""
    if "'" not in text and "\n" not in text:
        return f"'{text}'"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_differences(path: Path | str, suite: str, categories: Iterable[Category],
                      entries: Iterable[Difference], header: str = "", twins_of: str = "") -> None:
    """Write the list in the layout load_differences() reads (used to regenerate it)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [f"suite = {toml_string(suite)}"]
    if twins_of:
        lines.append(f"twins_of = {toml_string(twins_of)}")
    lines.append("")
    for c in categories:
        lines += [f"[categories.{c.name}]", f"summary = {toml_string(c.summary)}",
                  f"linux = {toml_string(c.linux)}", ""]
    for e in sorted(entries, key=lambda e: e.script):
        lines += ["[[difference]]", f"script = {toml_string(e.script)}",
                  f"category = {toml_string(e.category)}", f"expect = {toml_string(e.expect)}"]
        if e.note:
            lines.append(f"note = {toml_string(e.note)}")
        lines.append("")
    Path(path).write_text("\n".join(lines), encoding="utf-8")
