"""Seeing TCP: tcpdump lines, trace recording, ladder diagrams (text and SVG), pcap files, ss.

`Recorder` (an engine observer) keeps what happened; `render_ladder`,
`render_svg`, `write_pcap` and `tcpdump_lines` show it; `printer` and
`PcapWriter` are live packet hooks for `Stack(on_packet=...)`; `ss` lists an
engine's sockets. Fault injection, whose faults traces show, is `minitcp.faults`.
"""

from minitcp.trace.hooks import tee
from minitcp.trace.ladder import render_ladder
from minitcp.trace.lines import tcpdump_lines
from minitcp.trace.pcap import PcapWriter, read_pcap, write_pcap
from minitcp.trace.recorder import Recorder, merge
from minitcp.trace.ss import ss
from minitcp.trace.svg import render_svg, write_svg
from minitcp.trace.tcpdump import RelativeSeq, describe_packet, describe_segment, format_line, printer

__all__ = [
    "PcapWriter", "Recorder", "RelativeSeq", "describe_packet", "describe_segment", "format_line", "merge",
    "printer", "read_pcap", "render_ladder", "render_svg", "ss", "tcpdump_lines", "tee", "write_pcap",
    "write_svg",
]
