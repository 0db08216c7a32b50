"""The sans-IO host: IPv4 input and output, ICMP and local ports, around the TCP engine."""

from minitcp.host.host import Host, PacketHook

__all__ = ["Host", "PacketHook"]
