"""The virtio-net header a TUN device puts before each packet once IFF_VNET_HDR is set.

With it, and the offloads switched on by TUNSETOFFLOAD, the kernel treats the
device as a NIC that checksums and segments TCP in "hardware": it hands us
TCP super-segments of up to 64 KB with the TCP checksum left partial, and it
takes super-segments from us the same way, to be cut into MSS-sized segments
by the "hardware" (in fact its own TCP receive path takes them whole, as it
takes a GRO packet). The header is `struct virtio_net_hdr` of
include/uapi/linux/virtio_net.h; a legacy device (TUN without TUNSETVNETLE)
uses host byte order. The checksum arithmetic is `minitcp.wire.csum_partial`'s,
the super-segment `minitcp.wire.gso`'s.
"""

from __future__ import annotations

import struct

from minitcp.wire.csum_partial import TCP_CSUM_OFFSET

# linux/if_tun.h: the ioctls and TUNSETOFFLOAD's bits.
TUNSETOFFLOAD = 0x400454D0  # _IOW('T', 208, unsigned int): which offloads userspace can take
TUNSETVNETHDRSZ = 0x400454D8  # _IOW('T', 216, int): the header length the device reads and writes
TUN_F_CSUM = 0x01  # we take packets with partial checksums
TUN_F_TSO4 = 0x02  # we take TCP/IPv4 super-segments (TSO4 needs CSUM)

VNET_HDR_LEN = 10  # sizeof(struct virtio_net_hdr), without the mergeable-buffers count
F_NEEDS_CSUM = 0x01  # flags: the checksum at csum_start + csum_offset is partial
GSO_TCPV4 = 0x01

# flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
VNET_HDR = struct.Struct("=BBHHHH")
PLAIN_HDR = bytes(VNET_HDR_LEN)  # no offload: the packet is complete as it is


def gso_tcp_header(ihl: int, hdr_len: int, gso_size: int) -> bytes:
    """The header for a TCP/IPv4 super-segment of `gso_size`-byte segments behind `hdr_len` bytes
    of IPv4 and TCP headers, its TCP checksum left partial (the pseudo-header sum)."""
    return VNET_HDR.pack(F_NEEDS_CSUM, GSO_TCPV4, hdr_len, gso_size, ihl, TCP_CSUM_OFFSET)

