"""Capture files are created new and private (issue #17): mode 0600, never through a planted
symbolic link, never over an existing file; `minitcp up --pcap` says so in one usage line."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from minitcp.cli import main
from minitcp.trace.pcap import PcapWriter, read_pcap


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, which would leave a file made by open(path, "wb") at 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_capture_is_created_private(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "t.pcap"
    with PcapWriter(path) as writer:
        writer.write(b"\x45" + bytes(19), 1.0)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(read_pcap(path)[1]) == 1


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    planted = tmp_path / "capture.pcap"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError, match="symbolic link, and a capture never follows one"):
        PcapWriter(planted)
    assert victim.read_bytes() == b"precious"
    # A link to a name that does not exist yet: following it would create the file it names.
    dangling = tmp_path / "dangling.pcap"
    dangling.symlink_to(tmp_path / "created-through-the-link")
    with pytest.raises(FileExistsError, match="symbolic link"):
        PcapWriter(dangling)
    assert not (tmp_path / "created-through-the-link").exists()


def test_an_existing_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "old.pcap"
    path.write_bytes(b"yesterday's capture")
    with pytest.raises(FileExistsError, match="exists, and a capture never overwrites a file"):
        PcapWriter(path)
    assert path.read_bytes() == b"yesterday's capture"


def test_up_refuses_a_symlink_in_one_usage_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planted = tmp_path / "up.pcap"
    planted.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SystemExit) as exit_info:
        main(["up", "--pcap", str(planted)])
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.startswith("minitcp up: error: argument --pcap: cannot write")
    assert "symbolic link" in line and "remove it or choose another name" in line
    assert not (tmp_path / "elsewhere").exists()


def test_up_that_cannot_start_leaves_no_capture_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Else the next try would meet its own empty capture and be refused."""
    path = tmp_path / "up.pcap"
    assert main(["up", "--addr", "10.9.9.9", "--pcap", str(path)]) == 1
    assert "must be another address in --peer's subnet" in capsys.readouterr().err
    assert not path.exists()


def test_a_usage_error_after_pcap_leaves_no_capture_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "up.pcap"
    with pytest.raises(SystemExit) as exit_info:
        main(["up", "--pcap", str(path), "--sysctl", "net.ipv4.ip_default_ttl=300"])
    assert exit_info.value.code == 2
    assert "argument --sysctl" in capsys.readouterr().err
    assert not path.exists()
