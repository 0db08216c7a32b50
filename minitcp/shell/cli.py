"""`minitcp shell [--sim [--step]] [--lang en|zh]`: drive TCP by hand, one socket call at a time.

Without --sim the stack runs on a TUN device in a private network namespace of its
own (root, or user namespaces), and the peer is the Linux kernel in that namespace,
driven with Trio's kernel sockets. With --sim the peer is a second minitcp stack on
an in-memory link, in virtual time: it advances as real time does, or with --step
only when the learner says `wait` (then everything is deterministic: what a
command causes is printed before the prompt returns).
"""

from __future__ import annotations

import argparse
import signal
import sys

import trio
import trio.testing

from minitcp.faults import FaultInjector
from minitcp.link.base import Link
from minitcp.link.faulty import FaultyLink
from minitcp.link.memory import memory_link_pair
from minitcp.stack import Stack
from minitcp.trace.tracepoints import TraceSession, open_session

from .console import Console
from .kernel_states import print_kernel_states
from .prompt import Prompt
from .session import M_ADDR, P_ADDR, LiveObserver, Session
from .web import ShellWeb
from .words import messages

PROMPT = "minitcp> "


def add_shell_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "shell", help="an interactive prompt: make socket calls on minitcp and its peer, see every packet",
        description="Start the stack and give a prompt where you call connect, listen, accept, send, recv, "
        "shutdown, close, dup and setsockopt on minitcp's sockets and, with `peer ...`, on the peer's; set "
        "knobs (sysctl); drop or delay the next segment; and see each packet and state change as it "
        "happens. The peer is the Linux kernel in a private network namespace (root or user namespaces, "
        "/dev/net/tun), or with --sim a second minitcp stack in virtual time. History and tab completion "
        "as in any readline prompt; `help` lists the commands.",
    )
    p.add_argument("--sim", action="store_true", help="the peer is a second minitcp stack, in virtual time")
    p.add_argument("--step", action="store_true",
                   help="with --sim: time stands still until `wait SECONDS` (default: it runs as real time)")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the help and messages")
    p.add_argument("--dev", default="mtcpsh0", help="the TUN device, without --sim (default: %(default)s)")
    p.add_argument("--web", nargs="?", const="127.0.0.1:8470", metavar="ADDR:PORT",
                   help="watch the connections live in a browser, as `minitcp up --web` shows them: a page "
                   "served on a kernel socket of the host (default 127.0.0.1:8470)")
    p.set_defaults(run=run_shell)
    return p


def run_shell(args: argparse.Namespace) -> int:
    if args.step and not args.sim:
        print("minitcp shell: --step needs --sim (the kernel's time cannot be stopped)", file=sys.stderr)
        return 2
    console = Console(PROMPT)
    words = messages(args.lang)
    try:
        web = ShellWeb(args.web, args.lang, args.step) if args.web is not None else None
    except OSError as e:  # the page's address taken, or not ours
        print(f"minitcp shell: --web {args.web}: {e.strerror or e}", file=sys.stderr)
        return 1
    injector = FaultInjector([], observer=web.observer() if web is not None else None)
    if args.sim:
        clock = trio.testing.MockClock(rate=0.0 if args.step else 1.0)
        session = Session(console, injector, clock=clock, lang=args.lang)
        console.say(words.intro_sim + (" " + words.intro_step if args.step else ""))
        trio.run(_sim, session, web, clock=clock)
    else:
        from minitcp.link.tun import LinkError, TunLink
        from minitcp.netns import NetnsError, enter_private_netns

        try:
            enter_private_netns()  # before any thread: a namespace is entered by a single-threaded process
            link = TunLink(args.dev, peer=P_ADDR)
        except (NetnsError, LinkError, OSError) as e:
            print(f"minitcp shell: {e} (--sim needs no privileges)", file=sys.stderr)
            return 1
        session = Session(console, injector, clock=None, lang=args.lang)
        console.say(words.intro_kernel)
        # Before Trio starts its threads: tracefs may need a mount namespace of this process's own.
        trace = open_session()
        if trace is None:
            console.say(words.no_tracepoints)
        try:
            trio.run(_kernel, session, link, trace, web)
        finally:
            link.close()
            if trace is not None:
                trace.close()
    console.say(words.bye)
    return 0


def _stack(session: Session, link: Link, address: str, web: ShellWeb | None) -> Stack:
    """minitcp's stack, behind the fault link, printing its packets, faults and states."""
    also = web.observer() if web is not None else None  # --web: the recorder hears it too
    return Stack(FaultyLink(link, session.injector, report=session.on_fault), address,
                 observer=LiveObserver(session, "", also), on_packet=session.on_packet)


async def _sim(session: Session, web: ShellWeb | None) -> None:
    la, lb = memory_link_pair()
    session.m = _stack(session, la, M_ADDR, web)
    also = web.observer(peer=True) if web is not None else None
    session.peer_stack = Stack(lb, P_ADDR, address6="2001:2::1",
                               observer=LiveObserver(session, "peer ", also))
    await _serve(session, session.m, session.peer_stack, web=web)


async def _kernel(session: Session, link: Link, trace: TraceSession | None, web: ShellWeb | None) -> None:
    session.m = _stack(session, link, M_ADDR, web)
    await _serve(session, session.m, trace=trace, web=web)


async def _serve(session: Session, *stacks: Stack, trace: TraceSession | None = None,
                 web: ShellWeb | None = None) -> None:
    session.t0 = trio.current_time()
    prompt = Prompt(session, session.console)
    async with trio.open_nursery() as nursery:
        session.nursery = nursery
        if web is not None:  # the page is up before the first packet and the first prompt
            await nursery.start(web.serve, session, stacks)
        for stack in stacks:
            nursery.start_soon(stack.run)
        if trace is not None:
            nursery.start_soon(print_kernel_states, session, trace)
        nursery.start_soon(_interrupts, session)
        await trio.testing.wait_all_tasks_blocked()  # the stacks are up before the first prompt
        await trio.to_thread.run_sync(prompt.cmdloop, abandon_on_cancel=True)
        nursery.cancel_scope.cancel()


async def _interrupts(session: Session) -> None:
    """Ctrl-C reaches Trio's thread, not the prompt's: say how to leave instead of dying mid-line."""
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            session.say(session.words.interrupt)


__all__ = ["add_shell_parser", "run_shell"]
