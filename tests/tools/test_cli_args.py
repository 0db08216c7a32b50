"""What `minitcp` says before it touches any device: help and refused options."""

from __future__ import annotations

import pytest

from minitcp.cli import _build_parser, main

OUTSIDE = "must be another address in --peer's subnet 198.18.0.0/24"


def test_help_lists_each_subcommand_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    up = next(i for i, line in enumerate(lines) if line.split()[:1] == ["up"])
    assert lines[up].split(None, 1)[1] == "run the stack on TUN device mtcp0 as 198.18.0.2 until Ctrl-C"
    demo_help = "watch kernel clients talk to the stack (private namespace)"
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


def test_up_help_lists_the_servers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for flag, port in (("--echo", 7), ("--discard", 9), ("--http", 80)):
        assert f"{flag} [PORT]" in out
        assert f"on PORT (default {port})" in out


@pytest.mark.parametrize(
    ("args", "ports"),
    [
        ([], (None, None, None)),
        (["--echo", "--discard", "--http"], (7, 9, 80)),
        (["--echo", "7007", "--http", "8080"], (7007, None, 8080)),
    ],
)
def test_server_flags_take_an_optional_port(args: list[str], ports: tuple[int | None, ...]) -> None:
    parsed = _build_parser().parse_args(["up", *args])
    assert (parsed.echo, parsed.discard, parsed.http) == ports


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_a_bad_port_is_an_argparse_error(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["up", "--http", port])
    assert exited.value.code == 2
    assert f"not a TCP port (1 to 65535): {port!r}" in capsys.readouterr().err


def test_two_servers_on_one_port_are_refused_before_any_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--echo", "80", "--http"]) == 1
    assert capsys.readouterr().err == "minitcp: each server needs its own port: --echo 80, --http 80\n"
