"""`minitcp sysctl [-a] [-w] NAME[=VALUE]...`: a running stack's knobs, read and changed as sysctl(8) does.

The knobs (tcp/knobs.py) are named after Linux sysctls, so the command takes and
prints them as procps' sysctl does: `net.ipv4.tcp_fin_timeout = 60`, a triple
such as tcp_rmem tab-separated, `NAME=VALUE` a write with or without `-w` (procps
sysctl.c: `WriteMode || strchr(arg, '=')`), and its errors:

    sysctl: cannot stat /proc/sys/net/ipv4/tcp_nope: No such file or directory
    sysctl: setting key "net.ipv4.tcp_syn_retries": Invalid argument

with exit status 255 when a key failed (procps returns -1). The stack is reached
through its control socket (control.py, request `sysctl`); `setting` is what that
request runs inside the stack, and what `minitcp shell`'s own `sysctl` runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from minitcp.tcp.knobs import KnobRangeError, Knobs, sysctl_name

FAILED = 255  # procps sysctl's exit status when a key could not be read or set (return -1)


class SysctlError(Exception):
    """A key that could not be read or set; the message is sysctl(8)'s line, without `sysctl: `."""


def format_value(value: Any) -> str:
    """A knob's value as /proc/sys prints it: numbers plainly, a tuple tab-separated."""
    if isinstance(value, tuple):
        return "\t".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def short_name(key: str) -> str:
    return key.strip().removeprefix("net.ipv4.").removeprefix("net.core.").removeprefix("route.")


def setting(knobs: Knobs, key: str, value: str | None = None) -> tuple[str, str]:
    """Read (value None) or set one knob; (its full sysctl name, its value now) or SysctlError."""
    short = short_name(key)
    if short not in knobs.as_dict():
        path = "/proc/sys/" + key.strip().replace(".", "/")
        raise SysctlError(f"cannot stat {path}: No such file or directory")
    name = sysctl_name(short)
    if value is not None:
        try:
            knobs.set(short, value.strip())
        except (KnobRangeError, TypeError, ValueError):
            raise SysctlError(f'setting key "{name}": Invalid argument') from None
    return name, format_value(getattr(knobs, short))


def all_settings(values: dict[str, Any]) -> list[str]:
    """`sysctl -a`'s lines for a stack's knobs (the `knobs` request's reply), sorted by full name."""
    lines = [f"{sysctl_name(name)} = {format_value(v if not isinstance(v, list) else tuple(v))}"
             for name, v in values.items()]
    return sorted(lines)


# ---------------------------------------------------------------------------- the command


def add_sysctl_command(commands: Any, default_dev: str) -> None:
    p = commands.add_parser(
        "sysctl", help="read or change a running stack's knobs, like sysctl(8)",
        description="Ask a running `minitcp up` (through its control socket) for its knobs, by their Linux "
        "sysctl names: `minitcp sysctl net.ipv4.tcp_fin_timeout`, `minitcp sysctl -w "
        "net.ipv4.tcp_fin_timeout=5`, `minitcp sysctl -a`. A value outside Linux's range is refused "
        "as sysctl refuses it; the change holds until the stack stops.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--dev", default=default_dev,
                       help="the TUN device the stack runs on (default: %(default)s)")
    where.add_argument("--control", metavar="PATH", help="the stack's control socket (`up --control`)")
    p.add_argument("-a", "--all", action="store_true", help="print every knob")
    p.add_argument("-w", "--write", action="store_true", help="every argument is NAME=VALUE to set")
    p.add_argument("-n", "--values", action="store_true", help="print values only, without names")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the values set")
    p.add_argument("keys", nargs="*", metavar="NAME[=VALUE]")
    p.set_defaults(run=run_sysctl)


def run_sysctl(args: argparse.Namespace) -> int:
    from minitcp.control import ControlError, request, stack_path

    if not args.all and not args.keys:
        print("minitcp sysctl: name a knob (e.g. net.ipv4.tcp_fin_timeout), or -a for all", file=sys.stderr)
        return 2
    path = stack_path(args)
    status = 0
    try:
        if args.all:
            for line in all_settings(request(path, "knobs")["knobs"]):
                print(line.split(" = ", 1)[1] if args.values else line)
        for arg in args.keys:
            key, eq, value = arg.partition("=")
            if args.write and not eq:
                print(f'sysctl: "{arg}" must be of the form name=value', file=sys.stderr)
                status = FAILED
                continue
            fields: dict[str, Any] = {"name": key.strip()}
            if eq:
                fields["value"] = value
            reply = request(path, "sysctl", **fields)
            if reply.get("error"):
                print(f"sysctl: {reply['error']}", file=sys.stderr)
                status = FAILED
            elif not (eq and args.quiet):
                print(reply["value"] if args.values else f"{reply['key']} = {reply['value']}")
    except ControlError as e:
        print(f"minitcp sysctl: {e}", file=sys.stderr)
        return 1
    return status
