"""What `minitcp` says before it touches any device: help and refused options."""

from __future__ import annotations

import pytest

from minitcp.cli import main

OUTSIDE = "must be another address in --peer's subnet 198.18.0.0/24"


def test_help_lists_each_subcommand_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    up = next(i for i, line in enumerate(lines) if line.split()[:1] == ["up"])
    assert lines[up].split(None, 1)[1] == "run the stack on TUN device mtcp0 as 198.18.0.2 until Ctrl-C"
    demo_help = "ping the stack and connect to it, in a private network namespace"
    assert lines[up + 1].split(None, 1) == ["demo", demo_help]


def test_up_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for default in ("(default: mtcp0)", "(default: 198.18.0.2)", "(default: 198.18.0.1)", "(default: 1500)"):
        assert default in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mtu", "67"], "minitcp: MTU 67 is out of range: it must be between 68 and 65000\n"),
        (["--addr", "10.0.0.2"], f"minitcp: --addr 10.0.0.2 {OUTSIDE}\n"),
        (["--addr", "198.18.0.1"], f"minitcp: --addr 198.18.0.1 {OUTSIDE}\n"),
    ],
)
def test_bad_options_give_one_line_and_status_1(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["up", *args]) == 1
    assert capsys.readouterr().err == message


def test_not_an_address_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["up", "--addr", "198.18.0.300"])
    assert exited.value.code == 2
    assert "not an IPv4 address: '198.18.0.300'" in capsys.readouterr().err
