# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""`minitcp lab FILE.pkt`: any packetdrill script, rendered as a lab.

The conformance runner (minitcp/conformance/) plays the script against minitcp in
virtual time, as `minitcp conformance FILE` does; here minitcp's stack also carries
a trace recorder, so the run is drawn as a lab is: the ladder (minitcp and the
script's remote host), minitcp's states, the counters that moved, and a verdict
with a single check, "the script passes", or where and why it failed.
"""

from __future__ import annotations

import os
import re

import trio

from minitcp.conformance import DEFAULT_DEFINES, ParseError, Runner, parse_file
from minitcp.conformance.minitcp_target import MinitcpTarget
from minitcp.conformance.target import Peer
from minitcp.tcp.knobs import Knobs
from minitcp.trace.recorder import Recorder

from .base import HOST, Check, Ctx, Lab, Note, Result
from .capture import FaultMarkingCapture
from .runner import _timelines

SCRIPT_PEER = Note("peer: the packetdrill script's remote host, virtual time",
                   "对端：packetdrill 脚本里的远端主机，虚拟时间")


class RecordedTarget(MinitcpTarget):
    """minitcp as the conformance runner's target, with a recorder watching its stack."""

    def __init__(self, rec: Recorder, knobs: Knobs | None = None, capture: FaultMarkingCapture | None = None
                 ) -> None:
        super().__init__(knobs)
        self.rec = rec
        self.capture = capture

    async def open(self, nursery: trio.Nursery, mtu: int) -> Peer:
        peer = await super().open(nursery, mtu)
        # Before the first packet: the script's clock starts after open() returns.
        self.stack.engine.observer = self.rec.host(HOST)
        if self.capture is not None:
            self.stack.on_packet = self.capture.on_packet
        return peer


async def _nothing(ctx: Ctx) -> None:
    """A script lab has no scenario of its own: the script is the scenario."""


def script_lab(path: str) -> Lab:
    name = os.path.basename(path)
    return Lab(name=name, seed=path, title=f"packetdrill script {name}", title_zh=f"packetdrill 脚本 {name}",
               scenario=_nothing,
               en="The script plays the remote host: it sends the `<` packets and makes the calls at "
                  "their times, and each `>` line is a packet minitcp must send, within the script's "
                  "tolerance. The ladder is what minitcp sent and received; the verdict is the script's.",
               zh="脚本扮演远端主机：按时间发出 `<` 行的包、调用系统调用；每个 `>` 行都是 minitcp 必须在"
                  "脚本允许的误差内发出的包。时序图是 minitcp 收发的包；结论就是脚本的结果。",
               group="packetdrill")


def run_script_lab(path: str, knobs: Knobs | None = None, *, pcap: bool = False) -> Result:
    """Play the script at `path` against minitcp and judge it as a lab (`pcap`: capture minitcp's side)."""
    lab = script_lab(path)
    rec = Recorder(HOST, timers=False)
    try:
        script = parse_file(path, DEFAULT_DEFINES)
    except ParseError as e:
        return Result(lab, True, rec, {}, {}, [], [], error=f"parse error: {e}", peer_said=SCRIPT_PEER)
    capture = FaultMarkingCapture() if pcap else None
    target = RecordedTarget(rec, knobs if knobs is not None else Knobs(), capture)
    outcome = Runner(script, target=target).run()
    t0 = rec.events[0].time if rec.events else 0.0
    counters = {"minitcp": {k: v for k, v in target.stack.engine.counters.items() if v}}
    notes = []
    if outcome.ignored:
        listed = ", ".join(outcome.ignored)
        notes.append(Note(f"not acted on: {listed}", f"未执行：{listed}"))
    if outcome.ok:
        check = Check("the script passes: every packet and call as it says", True,
                      "脚本通过：每个包和调用都与脚本一致")
    else:
        reason = outcome.reason or "?"
        at = re.search(r"line (\d+)", reason)
        where = f" at line {at.group(1)}" if at else ""
        where_zh = f"在第 {at.group(1)} 行" if at else ""
        check = Check(f"the script fails{where}: {reason}", False, f"脚本{where_zh}未通过：{reason}")
    return Result(lab, True, rec, {"minitcp": _timelines(rec, HOST, t0)}, counters, [check], notes,
                  peer_said=SCRIPT_PEER, pcap=capture.pcapng() if capture else None)
