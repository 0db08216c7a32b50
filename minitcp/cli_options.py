"""The `minitcp up` options for looking at and bending TCP: --sysctl, --pcap, --fault, --control.

The argparse `type=` functions check each value when the command line is
read, so a typo is a one-line usage error before any device exists;
`build_stack` then turns the parsed options into the Stack (knobs, link,
packet hooks) and `up_tasks` into the tasks that run beside it (the control
socket).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import math
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from minitcp.faults import FaultInjector, FaultRule, FaultRuleError, PacketFaultHook, parse_rule
from minitcp.link.base import Link
from minitcp.link.faulty import FaultyLink
from minitcp.stack import Stack
from minitcp.tcp.knobs import KnobRangeError, Knobs
from minitcp.trace.hooks import tee
from minitcp.trace.pcap import PcapWriter
from minitcp.trace.tcpdump import format_line, printer

# ---------------------------------------------------------------------------- argument types


def sysctl_setting(text: str) -> tuple[str, str]:
    """`net.ipv4.tcp_fin_timeout=5` -> (name, value), checked against the knob table now."""
    name, eq, value = (part.strip() for part in text.partition("="))
    if not eq or not name or not value:
        example = "net.ipv4.tcp_fin_timeout=5"
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. {example}), not {text!r}")
    short = name.removeprefix("net.ipv4.").removeprefix("net.core.")
    known = sorted(Knobs().as_dict())
    if short not in known:
        close = difflib.get_close_matches(short, known, n=3)
        hint = f"; did you mean {', '.join('net.ipv4.' + c for c in close)}?" if close else (
            "; `minitcp up --help` lists them")
        raise argparse.ArgumentTypeError(f"unknown knob {name!r}{hint}")
    try:
        Knobs().set(short, value)
    except KnobRangeError as e:
        # A negative or infinite time or count is never meaningful, whatever the knob's range.
        numbers = e.value if isinstance(e.value, tuple) else (e.value,)
        if not isinstance(e.value, str) and any(n < 0 or not math.isfinite(n) for n in numbers):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number >= 0, not {value!r}") from None
        raise argparse.ArgumentTypeError(str(e)) from None  # Linux's range, as sysctl(8) would refuse it
    except (TypeError, ValueError):
        kind = _kind(getattr(Knobs(), short))
        raise argparse.ArgumentTypeError(f"{name} takes {kind}, not {value!r}") from None
    return short, value


def _kind(current: Any) -> str:
    if isinstance(current, tuple):
        return f"{len(current)} whole numbers separated by spaces"
    return "a whole number" if isinstance(current, int) else "a number (seconds)"


def fault_rule(text: str) -> FaultRule:
    """parse_rule, with its explanation as argparse's error (no traceback, no repeated rule)."""
    try:
        return parse_rule(text)
    except FaultRuleError as e:
        raise argparse.ArgumentTypeError(f"bad fault rule {text!r}: {e.problem}") from None


def pcap_file(path: str, created: list[PcapWriter] | None = None) -> PcapWriter:
    """Open the capture at once, as argparse.FileType would: a bad path (or one that exists: see
    trace/pcap.py create_private) is a usage error."""
    try:
        # The wall clock, as tcpdump stamps a live capture; flushed per packet so that
        # `tcpdump -r` (or `tail -c +1 -f FILE | wireshark -k -i -`) can read it while `up` runs.
        writer = PcapWriter(path, wall_clock=True, flush=True)
    except OSError as e:
        raise argparse.ArgumentTypeError(f"cannot write {path!r}: {e.strerror}") from None
    if created is not None:
        created.append(writer)
    return writer


def add_up_options(up: argparse.ArgumentParser, captures: list[PcapWriter] | None = None) -> None:
    """The looking/knobs/faults options of `minitcp up`; each capture --pcap creates joins `captures`."""
    up.add_argument(
        "--sysctl", type=sysctl_setting, action="append", default=[], metavar="NAME=VALUE",
        help="set a knob by its Linux sysctl name, e.g. net.ipv4.tcp_fin_timeout=5 (repeatable; "
        "the knobs and their Linux defaults are in minitcp/tcp/knobs.py)",
    )
    up.add_argument(
        "--pcap", type=functools.partial(pcap_file, created=captures), metavar="FILE",
        help="write every packet in and out to FILE (pcap, for `tcpdump -r FILE` or Wireshark); FILE is "
        "created new with mode 0600, never over an existing file or through a symbolic link",
    )
    up.add_argument(
        "--fault", type=fault_rule, action="append", default=[], metavar="RULE",
        help="inject a fault (repeatable), e.g. drop:dir=out,nth=1 or delay:ms=100,prob=0.1; rules "
        "without flags= apply to every IPv4 packet (ping too), rules with flags= to TCP only; "
        "see minitcp/faults.py",
    )
    up.add_argument(
        "--control", metavar="PATH",
        help="the control socket `minitcp ss` and `minitcp stat` talk to (default: /run/minitcp/DEV.sock "
        "as root, else $XDG_RUNTIME_DIR/minitcp/DEV.sock or /tmp/minitcp-UID/DEV.sock)",
    )


# ---------------------------------------------------------------------------- building the stack


def fault_printer(file: TextIO | None = None) -> PacketFaultHook:
    """Print each fault as `FAULT drop out HH:MM:SS.us IP ...`, beside -v's tcpdump lines."""
    import time

    def on_fault(direction: str, action: str, packet: bytes | memoryview, now: float) -> None:
        print(f"FAULT {action} {direction} {format_line(packet, time.time())}", file=file or sys.stdout,
              flush=True)

    return on_fault


def build_link(link: Link, rules: list[FaultRule], on_fault: PacketFaultHook | None = None) -> Link:
    """The link the stack should use: `link` itself, or wrapped in the fault rules."""
    if not rules:
        return link
    return FaultyLink(link, FaultInjector(rules), report=on_fault)


def offload_wanted(args: argparse.Namespace) -> bool:
    """--offload as given, else on: fault rules meet the wire segments of super-segments one by
    one all the same (`FaultyLink`)."""
    offload = getattr(args, "offload", None)
    return True if offload is None else bool(offload)


def build_knobs(settings: list[tuple[str, str]]) -> Knobs:
    knobs = Knobs()
    for name, value in settings:
        knobs.set(name, value)
    return knobs


def build_stack(link: Link, args: argparse.Namespace) -> Stack:
    """The Stack for `minitcp up`: knobs from --sysctl, faults around `link`, -v and --pcap as hooks.

    `link` stays the caller's to close (and to name): the fault wrapper only borrows it.
    """
    verbose = getattr(args, "verbose", False)
    carrier = build_link(link, getattr(args, "fault", []), fault_printer() if verbose else None)
    hook = tee(printer() if verbose else None, getattr(args, "pcap", None))
    return Stack(carrier, args.addr, address6=getattr(args, "address6", None),
                 knobs=build_knobs(getattr(args, "sysctl", [])), on_packet=hook)


TaskFn = Callable[..., Awaitable[Any]]


def up_tasks(stack: Stack, args: argparse.Namespace) -> list[TaskFn]:
    """Tasks to start (with `nursery.start`) beside the stack: the control socket."""
    from minitcp.control import default_path, serve_control

    path = args.control or default_path(args.dev)
    return [functools.partial(serve_control, stack, path, dev=args.dev)]
