"""The `minitcp` command: run the stack on a TUN device, or watch a self-contained demo."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import socket
import sys
import time

import trio

from minitcp.link.tun import MAX_MTU, MIN_MTU, LinkError, TunLink
from minitcp.netns import NetnsError, enter_private_netns, in_private_netns
from minitcp.stack import Stack
from minitcp.trace.tcpdump import printer

DEFAULT_DEV = "mtcp0"
DEFAULT_ADDR = "198.18.0.2"
DEFAULT_PEER = "198.18.0.1"
PREFIX_LEN = 24  # the device's subnet: the kernel routes the whole /24 into the TUN device


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {text!r}") from None


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minitcp",
        description="A userspace TCP/IP stack on a Linux TUN device, built for watching TCP work.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help=f"run the stack on TUN device {DEFAULT_DEV} as {DEFAULT_ADDR} until Ctrl-C",
        description="Create a TUN device in the current network namespace (needs root or "
        "CAP_NET_ADMIN), give its kernel side --peer/24 and answer as --addr until Ctrl-C. "
        "Then try `ping 198.18.0.2` in another terminal.",
    )
    up.add_argument("--dev", default=DEFAULT_DEV, help="TUN device name (default: %(default)s)")
    up.add_argument(
        "--addr", type=_ipv4, default=DEFAULT_ADDR, help="the stack's IPv4 address (default: %(default)s)"
    )
    up.add_argument(
        "--peer", type=_ipv4, default=DEFAULT_PEER, help="the kernel's address, /24 (default: %(default)s)"
    )
    up.add_argument(
        "--mtu", type=int, default=1500, help=f"device MTU, {MIN_MTU} to {MAX_MTU} (default: %(default)s)"
    )
    up.add_argument(
        "-v", "--verbose", action="store_true", help="print every packet in and out, tcpdump style"
    )
    up.set_defaults(run=_up)

    demo = commands.add_parser(
        "demo",
        help="ping the stack and connect to it, in a private network namespace",
        description="Bring the stack up on a TUN device inside a private network namespace, let the "
        "kernel ping it and connect to a closed port, print the packets, and exit 0 if all went as "
        "Linux would.",
    )
    demo.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    return args.run(args)


def _fail(message: str) -> int:
    print(f"minitcp: {message}", file=sys.stderr)
    return 1


def _up(args: argparse.Namespace) -> int:
    subnet = ipaddress.IPv4Network(f"{args.peer}/{PREFIX_LEN}", strict=False)
    if ipaddress.IPv4Address(args.addr) not in subnet or args.addr == args.peer:
        return _fail(f"--addr {args.addr} must be another address in --peer's subnet {subnet}")
    try:
        link = TunLink(args.dev, peer=args.peer, netmask=str(subnet.netmask), mtu=args.mtu)
    except (LinkError, ValueError) as e:
        return _fail(str(e))
    stack = Stack(link, args.addr, on_packet=printer() if args.verbose else None)
    print(
        f"minitcp: stack at {args.addr} on {link.name} (kernel side {args.peer}/{PREFIX_LEN}, "
        f"mtu {args.mtu}); try `ping {args.addr}`; Ctrl-C stops",
        flush=True,
    )
    try:
        trio.run(_serve_until_signal, stack)
    except KeyboardInterrupt:
        pass  # Ctrl-C before the signal receiver was in place
    finally:
        link.close()
    print(f"minitcp: stopped, {link.name} removed; {_summary(stack)}", flush=True)
    return 0


async def _serve_until_signal(stack: Stack) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stack.run)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def _summary(stack: Stack) -> str:
    text = f"{stack.counters['InReceives']} packets in, {stack.counters['OutRequests']} out"
    if stack.drops:
        text += "; dropped: " + ", ".join(f"{n} {label}" for label, n in sorted(stack.drops.items()))
    return text


def _demo(args: argparse.Namespace) -> int:
    if not in_private_netns():
        try:
            enter_private_netns()
        except NetnsError as e:
            return _fail(f"demo: {e}")
    try:
        link = TunLink(DEFAULT_DEV, peer=DEFAULT_PEER)
    except (LinkError, ValueError) as e:
        return _fail(f"demo: {e}")
    try:
        passed = trio.run(_demo_steps, link)
    finally:
        link.close()
    return 0 if passed else 1


async def _demo_steps(link: TunLink) -> bool:
    print(
        f"minitcp demo: in a private network namespace, the kernel is {DEFAULT_PEER} on TUN device "
        f"{link.name} and minitcp answers as {DEFAULT_ADDR}. Packets are shown as tcpdump would.",
        flush=True,
    )
    stack = Stack(link, DEFAULT_ADDR, on_packet=printer(prefix="    "))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stack.run)
        results = [await _demo_ping(), await _demo_closed_port()]
        nursery.cancel_scope.cancel()
    print(f"\nstack counters: {_summary(stack)}")
    if all(results):
        print("demo passed: minitcp answered like a Linux host would.")
    else:
        print("demo FAILED: see the step marked FAILED above.")
    return all(results)


async def _demo_ping() -> bool:
    command = ["ping", "-c", "3", "-i", "0.2", "-W", "1", "-w", "5", DEFAULT_ADDR]
    print(f"\n[1/2] The kernel pings the stack: {' '.join(command)}", flush=True)
    try:
        done = await trio.run_process(command, capture_stdout=True, capture_stderr=True, check=False)
    except FileNotFoundError:
        print("  FAILED: ping is not installed (Debian: apt-get install iputils-ping)")
        return False
    output = done.stdout.decode(errors="replace")
    stats = [line for line in output.splitlines() if "transmitted" in line or line.startswith("rtt")]
    for line in stats:
        print(f"  ping says: {line}")
    if done.returncode == 0 and " 3 received" in output:
        print("  OK: three echo requests, three echo replies (ICMP, RFC 792).")
        return True
    error = done.stderr.decode(errors="replace").strip()
    print(f"  FAILED: ping exited with status {done.returncode}: {error}")
    return False


async def _demo_closed_port() -> bool:
    print(
        f"\n[2/2] The kernel connects to {DEFAULT_ADDR} port 80, where nothing listens yet: "
        "the stack must answer the SYN with a reset, as Linux does.",
        flush=True,
    )
    start = time.monotonic()
    try:
        await trio.to_thread.run_sync(_connect, DEFAULT_ADDR, 80)
    except ConnectionRefusedError:
        elapsed_ms = (time.monotonic() - start) * 1000
        print(f"  OK: connect() failed with ECONNREFUSED after {elapsed_ms:.1f} ms: the SYN got an RST|ACK.")
        return True
    except OSError as e:
        print(f"  FAILED: expected ECONNREFUSED, got {e!r}")
        return False
    print("  FAILED: the connection was accepted, but nothing should listen on port 80")
    return False


def _connect(addr: str, port: int) -> None:
    with socket.create_connection((addr, port), timeout=3):
        pass


if __name__ == "__main__":
    sys.exit(main())
