"""Human-readable traces of the packets the stack receives and sends."""

from minitcp.trace.tcpdump import describe_packet, describe_segment, format_line, printer

__all__ = ["describe_packet", "describe_segment", "format_line", "printer"]
