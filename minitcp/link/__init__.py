"""Links: where the stack's IPv4 packets come from and go to (a TUN device, or memory)."""

from minitcp.link.base import Link
from minitcp.link.memory import MemoryLink, memory_link_pair
from minitcp.link.tun import TunLink

__all__ = ["Link", "MemoryLink", "TunLink", "memory_link_pair"]
