"""The virtio-net header a TUN device puts before each packet once IFF_VNET_HDR is set.

With it, and the offloads switched on by TUNSETOFFLOAD, the kernel treats the
device as a NIC that checksums and segments TCP in "hardware": it hands us
TCP super-segments of up to 64 KB with the TCP checksum left partial, and it
takes super-segments from us the same way, to be cut into MSS-sized segments
by the "hardware" (in fact its own TCP receive path takes them whole, as it
takes a GRO packet). The header is `struct virtio_net_hdr` of
include/uapi/linux/virtio_net.h; a legacy device (TUN without TUNSETVNETLE)
uses host byte order.
"""

from __future__ import annotations

import struct

from minitcp.wire.accel import checksum, pseudo_header_sum
from minitcp.wire.ipv4 import PROTO_TCP

# linux/if_tun.h: the ioctls and TUNSETOFFLOAD's bits.
TUNSETOFFLOAD = 0x400454D0  # _IOW('T', 208, unsigned int): which offloads userspace can take
TUNSETVNETHDRSZ = 0x400454D8  # _IOW('T', 216, int): the header length the device reads and writes
TUN_F_CSUM = 0x01  # we take packets with partial checksums
TUN_F_TSO4 = 0x02  # we take TCP/IPv4 super-segments (TSO4 needs CSUM)

VNET_HDR_LEN = 10  # sizeof(struct virtio_net_hdr), without the mergeable-buffers count
F_NEEDS_CSUM = 0x01  # flags: the checksum at csum_start + csum_offset is partial
GSO_TCPV4 = 0x01
TCP_CSUM_OFFSET = 16  # the checksum field's place in the TCP header
PROTO_UDP = 17
_CSUM_OFFSETS = {PROTO_TCP: TCP_CSUM_OFFSET, PROTO_UDP: 6}  # the protocols Linux leaves partial

# flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
VNET_HDR = struct.Struct("=BBHHHH")
PLAIN_HDR = bytes(VNET_HDR_LEN)  # no offload: the packet is complete as it is


def gso_tcp_header(ihl: int, hdr_len: int, gso_size: int) -> bytes:
    """The header for a TCP/IPv4 super-segment of `gso_size`-byte segments behind `hdr_len` bytes
    of IPv4 and TCP headers, its TCP checksum left partial (the pseudo-header sum)."""
    return VNET_HDR.pack(F_NEEDS_CSUM, GSO_TCPV4, hdr_len, gso_size, ihl, TCP_CSUM_OFFSET)


def partial_tcp_csum(src: int, dst: int, tcp_length: int) -> int:
    """What a sender leaving the TCP checksum to the device stores in the field: the folded
    pseudo-header sum, uninverted (Linux __tcp_v4_send_check with CHECKSUM_PARTIAL)."""
    return pseudo_header_sum(src, dst, PROTO_TCP, tcp_length)


def complete_csum(packet: bytes | memoryview) -> bytes:
    """A copy of an IPv4 packet whose TCP (or UDP) checksum is partial, completed as the device
    would: the sum from the transport header to the end, the partial field included."""
    out = bytearray(packet)
    offset = _CSUM_OFFSETS.get(out[9]) if len(out) >= 20 else None
    if offset is None:
        return bytes(out)
    start = (out[0] & 0x0F) * 4
    end = int.from_bytes(out[2:4], "big")
    csum = checksum(memoryview(out)[start:end])
    if offset != TCP_CSUM_OFFSET and csum == 0:
        csum = 0xFFFF  # RFC 768: a computed zero is sent as all ones (zero means "none")
    out[start + offset : start + offset + 2] = csum.to_bytes(2, "big")
    return bytes(out)
