"""Build real packetdrill out of tree, and the CUBIC shim it runs with, cached between runs.

packetdrill (GPL-2.0) is read from ../shared/tools/packetdrill and never copied
into the repository: its source is copied into a build directory (by default
`build/packetdrill/`, gitignored) and built there with its own `./configure &&
make`. Debian needs `bison` and `flex` for its parser; as `make test` does for
its system tools, they are installed with apt-get when missing and we are root.
The build is redone only when the source or the shim changes (a stamp file
holds a digest of both), so a second run starts at once.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

DEFAULT_SOURCE = Path("../shared/tools/packetdrill")
DEFAULT_BUILD = Path("build/packetdrill")
SHIM_SOURCE = Path(__file__).with_name("cubic_preload.c")

# Commands the build and the scripts need, with the Debian package that provides each: the
# compiler, make, bison and flex build packetdrill; the scripts run ip, tc, ss (iproute2), ethtool
# (`ethtool -K tun0 tso off`), sysctl (procps) and python3 (`%{ }%` blocks).
TOOLS = {"cc": "gcc", "make": "make", "bison": "bison", "flex": "flex", "ip": "iproute2",
         "tc": "iproute2", "ethtool": "ethtool", "sysctl": "procps", "python3": "python3"}


class BuildError(Exception):
    """packetdrill cannot be built here: the message says why."""


@dataclasses.dataclass(frozen=True)
class Build:
    packetdrill: Path  # the binary
    shim: Path  # cubic_preload.so, for LD_PRELOAD


def missing_tools() -> list[str]:
    """The Debian packages of the TOOLS not on PATH, each once."""
    return sorted({package for command, package in TOOLS.items() if shutil.which(command) is None})


def install_tools() -> None:
    """Install the missing TOOLS with apt-get when we are root; BuildError when some stay missing."""
    missing = missing_tools()
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
        # As the Makefile's system-tools: try the package lists we have, update them only if needed.
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
    still = missing_tools()
    if still:
        raise BuildError(f"missing tools: {', '.join(still)} (install them as root: apt-get install "
                         f"{' '.join(still)})")


def build_packetdrill(source: Path = DEFAULT_SOURCE, build_dir: Path = DEFAULT_BUILD) -> Build:
    """packetdrill and the shim built from `source` under `build_dir` (reused when up to date)."""
    source, build_dir = source.resolve(), build_dir.resolve()
    if not (source / "packetdrill.c").is_file():
        raise BuildError(f"no packetdrill source at {source}")
    build_dir.mkdir(parents=True, exist_ok=True)
    built = Build(build_dir / "src" / "packetdrill", build_dir / "cubic_preload.so")
    stamp = build_dir / "stamp"
    digest = _digest(source)
    # One build at a time: the CLI and a test may start together.
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (stamp.is_file() and stamp.read_text() == digest and built.packetdrill.is_file()
                and built.shim.is_file()):
            return built
        install_tools()
        stamp.unlink(missing_ok=True)
        _build_source(source, build_dir / "src")
        _run(["cc", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(built.shim),
              str(SHIM_SOURCE), "-ldl"], build_dir)
        stamp.write_text(digest)
    return built


def _build_source(source: Path, tree: Path) -> None:
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(source, tree, symlinks=True)
    # The shared source is read-only; its copy must take the build's outputs.
    for root, dirs, files in os.walk(tree):
        for name in dirs + files:
            path = Path(root, name)
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
    tree.chmod(tree.stat().st_mode | 0o200)
    _run(["sh", "./configure"], tree)
    _run(["make", f"-j{os.cpu_count() or 1}", "packetdrill"], tree)


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise BuildError(f"{' '.join(command)} failed in {cwd} (exit {done.returncode}):\n{tail}")


def _digest(source: Path) -> str:
    """A digest of every source file's name, size and modification time, and of the shim."""
    h = hashlib.sha256(SHIM_SOURCE.read_bytes())
    for root, dirs, files in os.walk(source):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            info = path.lstat()
            h.update(f"{path.relative_to(source)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return h.hexdigest()
