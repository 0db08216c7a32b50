"""The `minitcp` command: run the stack on a TUN device, or watch a self-contained demo."""

from __future__ import annotations

import argparse
import functools
import ipaddress
import signal
import socket
import sys

import trio

from minitcp.apps import AppServer, DiscardServer, EchoServer, HttpServer
from minitcp.apps.base import DEFAULT_IDLE_TIMEOUT
from minitcp.cli_options import TaskFn, add_up_options, build_stack, offload_wanted, up_tasks
from minitcp.control import add_client_commands
from minitcp.link.tun import MAX_MTU, MIN_MTU, LinkError, TunLink
from minitcp.stack import Stack
from minitcp.sysctl import add_sysctl_command
from minitcp.trace.pcap import PcapWriter

DEFAULT_DEV = "mtcp0"
DEFAULT_ADDR = "198.18.0.2"
DEFAULT_PEER = "198.18.0.1"
PREFIX_LEN = 24  # the device's subnet: the kernel routes the whole /24 into the TUN device
# IPv6 from RFC 5180's benchmarking range 2001:2::/48, which no real network uses.
DEFAULT_ADDR6 = "2001:2::2"
DEFAULT_PEER6 = "2001:2::1"
PREFIX6_LEN = 64  # RFC 4291 section 2.5.4: an interface's prefix


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {text!r}") from None


def _ipv6(text: str) -> str | None:
    if text == "none":
        return None
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv6 address: {text!r}") from None


_SERVICES = {
    "echo": "echo (RFC 862: every byte comes back)",
    "discard": "discard (RFC 863: bytes go in, nothing comes out)",
    "http": "HTTP/1.1: / is a page about minitcp, /bytes/N sends N bytes",
}


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"not a number of seconds (0 or more): {text!r}")
    return seconds


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (1 to 65535): {text!r}")
    return port


def _build_parser(captures: list[PcapWriter] | None = None) -> argparse.ArgumentParser:
    """The parser; `captures` collects the files --pcap creates while parsing (see main)."""
    parser = argparse.ArgumentParser(
        prog="minitcp",
        description="A userspace TCP/IP stack on a Linux TUN device, built for watching TCP work.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help=f"run the stack on TUN device {DEFAULT_DEV} as {DEFAULT_ADDR} until Ctrl-C",
        description="Create a TUN device in the current network namespace (needs root or "
        "CAP_NET_ADMIN), give its kernel side --peer/24 and answer as --addr until Ctrl-C, "
        "with the servers asked for (--echo, --discard, --http). "
        "Then try `ping 198.18.0.2` in another terminal, or `minitcp up --echo --http` and "
        "`nc 198.18.0.2 7`, `curl http://198.18.0.2/`.",
    )
    up.add_argument("--dev", default=DEFAULT_DEV, help="TUN device name (default: %(default)s)")
    up.add_argument(
        "--addr", type=_ipv4, default=DEFAULT_ADDR, help="the stack's IPv4 address (default: %(default)s)"
    )
    up.add_argument(
        "--peer", type=_ipv4, default=DEFAULT_PEER, help="the kernel's address, /24 (default: %(default)s)"
    )
    up.add_argument(
        "--address6", type=_ipv6, default=DEFAULT_ADDR6,
        help="the stack's IPv6 address, or none for IPv4 only (default: %(default)s)",
    )
    up.add_argument(
        "--peer6", type=_ipv6, default=DEFAULT_PEER6,
        help=f"the kernel's IPv6 address, /{PREFIX6_LEN} (default: %(default)s)",
    )
    up.add_argument(
        "--mtu", type=int, default=1500, help=f"device MTU, {MIN_MTU} to {MAX_MTU} (default: %(default)s)"
    )
    up.add_argument(
        "--offload", action=argparse.BooleanOptionalAction, default=None,
        help="TCP segmentation and checksum offload on the device (virtio-net header, TSO/GSO): the "
        "kernel and the stack exchange super-segments of up to 64 KB, several times faster for bulk "
        "data, while the MSS stays that of --mtu; --fault rules still meet every wire segment of "
        "a super-segment (default: on)",
    )
    up.add_argument(
        "-v", "--verbose", action="store_true",
        help="print every packet in and out, tcpdump style (with --offload, super-segments whole)",
    )
    for server in (EchoServer, DiscardServer, HttpServer):
        up.add_argument(
            f"--{server.name}",
            type=_port,
            nargs="?",
            const=server.default_port,
            metavar="PORT",
            help=f"serve {_SERVICES[server.name]} on PORT (default {server.default_port})",
        )
    up.add_argument(
        "--idle-timeout", type=_seconds, default=None, metavar="SECONDS",
        help=f"the servers close a connection silent this long; 0: never (default: {DEFAULT_IDLE_TIMEOUT:g} "
        f"for echo and discard, {HttpServer().idle_timeout:g} between HTTP requests)",
    )
    up.add_argument(
        "--keepalive", action="store_true",
        help="SO_KEEPALIVE on the servers' connections: a peer that vanished is found out and reset "
        "after net.ipv4.tcp_keepalive_time, then tcp_keepalive_probes probes tcp_keepalive_intvl apart "
        "(set them with --sysctl)",
    )
    up.add_argument(
        "--web", nargs="?", const="127.0.0.1:8470", metavar="ADDR:PORT",
        help="watch every connection live in a browser: a page served on a kernel socket of the host, "
        "never on the stack's own device (default 127.0.0.1:8470)",
    )
    add_up_options(up, captures)  # --sysctl, --pcap, --fault, --control (minitcp/cli_options.py)
    up.set_defaults(run=_up)

    demo = commands.add_parser(
        "demo",
        help="watch kernel clients talk to the stack (private namespace)",
        description="Bring the stack up on a TUN device inside a private network namespace with an echo "
        "server (port 7) and an HTTP server (port 80); let the kernel ping it, connect to a closed port, "
        "and talk to the servers with a Python socket client, curl and nc; print the handshakes and "
        "closes as tcpdump lines with the states both sides passed through, and exit 0 if all went as "
        "Linux would.",
    )
    demo.add_argument("--sim", action="store_true",
                      help="the same story between two minitcp stacks on a memory link, virtual time, no TUN")
    demo.set_defaults(run=_demo)

    from minitcp.bench.suite import add_arguments as _bench_arguments

    bench = commands.add_parser(
        "bench",
        help="measure the stack against kernel clients (private namespace): a table of medians",
        description="In a private network namespace: the raw TUN ceiling, bulk transfers both ways at MTU "
        "1500 and 65000, connections/s, echo latency, HTTP requests/s (wrk), memory per established "
        "connection and per TIME_WAIT entry, the kernel's own figures over loopback, and the hot paths; "
        "each row a median with min and max, and the targets it meets. Takes minutes (--quick: seconds).",
    )
    _bench_arguments(bench)
    bench.set_defaults(run=_bench)

    from minitcp.soak.run import add_arguments as _soak_arguments

    soak = commands.add_parser(
        "soak",
        help="attack the stack with hostile packets while kernel clients check their data (private netns)",
        description="In a private network namespace: the stack on a TUN device at 198.18.0.2 with an echo "
        "server, a generator on the kernel's side sending it random, mutated and well-formed-but-wrong "
        "packets (every flag combination, bad options, fragments, ICMP errors quoting its connections, "
        "RFC 5961 injections), while kernel clients move data through it checked by SHA-256; then a SYN "
        "flood with legitimate requests, and connections whose clients vanish. A report of packets, drops "
        "by reason, bytes verified, the largest RSS and a verdict (exit status 0 when it passes).",
    )
    _soak_arguments(soak)
    soak.set_defaults(run=_soak)
    add_client_commands(commands, DEFAULT_DEV)  # `minitcp ss`, `minitcp stat` (minitcp/control.py)
    add_sysctl_command(commands, DEFAULT_DEV)  # `minitcp sysctl` (minitcp/sysctl.py)

    from minitcp.conformance.__main__ import DESCRIPTION as _conformance_description
    from minitcp.conformance.__main__ import add_arguments as _conformance_arguments
    from minitcp.conformance.__main__ import run as _conformance_run

    conformance = commands.add_parser(
        "conformance", help="run packetdrill scripts against minitcp (virtual time) or the Linux kernel",
        description=_conformance_description,
    )
    _conformance_arguments(conformance)
    conformance.set_defaults(run=_conformance_run)

    from minitcp.labs.cli import add_lab_parser, run_lab_command

    add_lab_parser(commands).set_defaults(run=run_lab_command)

    from minitcp.shell.cli import add_shell_parser

    add_shell_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    captures: list[PcapWriter] = []
    try:
        args = _build_parser(captures).parse_args(argv)
    except SystemExit:
        # A usage error in an argument after --pcap: the capture created for it goes with it.
        for capture in captures:
            capture.discard()
        raise
    return args.run(args)


def _fail(message: str) -> int:
    print(f"minitcp: {message}", file=sys.stderr)
    return 1


def _give_up(args: argparse.Namespace, message: str) -> int:
    """_fail before the stack started, taking back the capture --pcap created (see PcapWriter.discard)."""
    capture = getattr(args, "pcap", None)
    if capture is not None:
        capture.discard()
    return _fail(message)


def _up(args: argparse.Namespace) -> int:
    subnet = ipaddress.IPv4Network(f"{args.peer}/{PREFIX_LEN}", strict=False)
    if ipaddress.IPv4Address(args.addr) not in subnet or args.addr == args.peer:
        return _give_up(args, f"--addr {args.addr} must be another address in --peer's subnet {subnet}")
    if args.address6 is None or args.peer6 is None:
        args.address6 = args.peer6 = None
    else:
        subnet6 = ipaddress.IPv6Network(f"{args.peer6}/{PREFIX6_LEN}", strict=False)
        if ipaddress.IPv6Address(args.address6) not in subnet6 or args.address6 == args.peer6:
            return _give_up(args, f"--address6 {args.address6} must be another address in --peer6's "
                            f"prefix {subnet6}")
    servers = _servers(args)
    ports = [port for _, port in servers]
    if len(set(ports)) < len(ports):
        taken = ", ".join(f"--{s.name} {p}" for s, p in servers)
        return _give_up(args, f"each server needs its own port: {taken}")
    offload = offload_wanted(args)
    try:
        link = TunLink(args.dev, peer=args.peer, netmask=str(subnet.netmask), peer6=args.peer6,
                       mtu=args.mtu, offload=offload)
    except (LinkError, ValueError) as e:
        return _give_up(args, str(e))
    stack = build_stack(link, args)  # knobs, faults around the TunLink, -v and --pcap hooks
    if link.peer6 is None:
        args.address6 = None  # an MTU below IPv6's 1280: the device has no IPv6
    print(
        f"minitcp: stack at {args.addr} on {link.name} (kernel side {args.peer}/{PREFIX_LEN}, "
        f"mtu {args.mtu}, offload {'on' if offload else 'off'})",
        flush=True,
    )
    if args.address6 is not None:
        print(f"minitcp: and at {args.address6} (kernel side {args.peer6}/{PREFIX6_LEN})", flush=True)
    for server, port in servers:
        hint = _try(server, args.addr, port)
        print(f"minitcp: {server.name} on {args.addr}:{port}: try `{hint}`", flush=True)
        if args.address6 is not None:
            print(f"minitcp: {server.name} on [{args.address6}]:{port}: try "
                  f"`{_try(server, args.address6, port)}`", flush=True)
    ping6 = f" or `ping -6 {args.address6}`" if args.address6 is not None else ""
    print(f"minitcp: try `ping {args.addr}`{ping6}; Ctrl-C stops", flush=True)
    try:
        family = socket.AF_INET6 if args.address6 is not None else socket.AF_INET  # both families
        trio.run(_serve_until_signal, stack, servers, up_tasks(stack, args) + _web_tasks(stack, args), family)
    except KeyboardInterrupt:
        pass  # Ctrl-C before the signal receiver was in place
    finally:
        link.close()
    print(f"minitcp: stopped, {link.name} removed; {_summary(stack, link)}", flush=True)
    for server, _ in servers:
        print(f"minitcp: {server.name} served {server.connections} connection(s)", flush=True)
    return 0


def _web_tasks(stack: Stack, args: argparse.Namespace) -> list[TaskFn]:
    """`--web`: the browser view (minitcp/web/live.py), started before the stack's first packet."""
    if args.web is None:
        return []
    from minitcp.web.live import serve_live
    from minitcp.web.server import parse_addr

    return [functools.partial(serve_live, stack, *parse_addr(args.web))]


def _servers(args: argparse.Namespace) -> list[tuple[AppServer, int]]:
    servers: list[tuple[AppServer, int]] = []
    for cls in (EchoServer, DiscardServer, HttpServer):
        port = getattr(args, cls.name)
        if port is not None:
            limits = {} if args.idle_timeout is None else {"idle_timeout": args.idle_timeout}
            servers.append((cls(keepalive=args.keepalive, **limits), port))
    return servers


def _try(server: AppServer, addr: str, port: int) -> str:
    if isinstance(server, HttpServer):
        host = f"[{addr}]" if ":" in addr else addr
        return f"curl http://{host}{'' if port == 80 else f':{port}'}/"
    if isinstance(server, DiscardServer):
        return f"head -c 1000000 /dev/zero | nc -N {addr} {port}"
    return f"nc {addr} {port}"


async def _serve_until_signal(stack: Stack, servers: list[tuple[AppServer, int]] | None = None,
                              tasks: list[TaskFn] | None = None, family: int = socket.AF_INET) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stack.run)
            for server, port in servers or ():
                await nursery.start(functools.partial(server.serve, stack, port, family=family))
            for task in tasks or ():  # after the servers: they must listen before the stack's first packet
                await nursery.start(task)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def _summary(stack: Stack, link: TunLink) -> str:
    text = f"{stack.counters['InReceives']} packets in, {stack.counters['OutRequests']} out"
    if link.offload:
        text += (f" ({link.rx_gso} super-segments in, {link.tx_gso} out carrying "
                 f"{link.tx_gso_segments} segments)")
    if stack.drops:
        text += "; dropped: " + ", ".join(f"{n} {label}" for label, n in sorted(stack.drops.items()))
    return text


def _bench(args: argparse.Namespace) -> int:
    from minitcp.bench.suite import run_cli

    return run_cli(args)


def _soak(args: argparse.Namespace) -> int:
    from minitcp.soak.run import run_cli

    return run_cli(args)


def _demo(args: argparse.Namespace) -> int:
    from minitcp.demo import main as demo_main

    return demo_main(sim=args.sim)


if __name__ == "__main__":
    sys.exit(main())
