"""pcapng files, for captures that carry a note on a packet (`tcpdump -r`, Wireshark).

A classic pcap file (pcap.py) has no room for anything but the packets; a lab's
capture must also say which packets a fault rule dropped or delayed, so that the
drop is visible where it happened. pcapng (draft-ietf-opsawg-pcapng, sections 4.1,
4.2 and 4.3) gives each packet an Enhanced Packet Block with options: `opt_comment`
(code 1, UTF-8 text, which Wireshark shows as the packet's comment and
`frame.comment` filters on) and `epb_flags` (code 2, whose two low bits are the
direction: 1 inbound, 2 outbound).

The file is one Section Header Block, one Interface Description Block (LINKTYPE_RAW:
bare IPv4 or IPv6 packets, as the stack sends them; microsecond timestamps, the
default `if_tsresol`), then one Enhanced Packet Block per packet, all little-endian.
"""

from __future__ import annotations

import dataclasses
import struct

from .pcap import LINKTYPE_RAW

SHB_TYPE = 0x0A0D0D0A  # section 4.1: the Section Header Block's type, the same in either byte order
BYTE_ORDER_MAGIC = 0x1A2B3C4D
IDB_TYPE = 0x00000001  # section 4.2
EPB_TYPE = 0x00000006  # section 4.3
OPT_ENDOFOPT = 0
OPT_COMMENT = 1  # section 3.5: a UTF-8 comment, on any block
EPB_FLAGS = 2  # section 4.3.1: bits 0-1 the direction
DIRECTION_BITS = {"in": 0b01, "out": 0b10}


@dataclasses.dataclass
class Record:
    """One packet of a capture, with when it was seen, which way it went, and an optional note."""

    time: float
    direction: str  # "in" or "out"
    packet: bytes
    comment: str | None = None


def _option(code: int, value: bytes) -> bytes:
    pad = -len(value) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def _block(kind: int, body: bytes) -> bytes:
    total = 12 + len(body)  # type, length before, body, length after
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def header(linktype: int = LINKTYPE_RAW, snaplen: int = 65535) -> bytes:
    """The Section Header Block and the one interface every packet is on."""
    # Section length -1: not given (a writer that streams cannot know it).
    shb = _block(SHB_TYPE, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1))
    idb = _block(IDB_TYPE, struct.pack("<HHI", linktype, 0, snaplen))
    return shb + idb


def packet_block(record: Record, snaplen: int = 65535) -> bytes:
    """One Enhanced Packet Block: interface 0, microseconds since the epoch, the direction, the note."""
    micros = max(round(record.time * 1_000_000), 0)
    data = record.packet[:snaplen]
    body = struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(data), len(record.packet))
    body += data + b"\0" * (-len(data) % 4)
    options = b""
    if record.comment:
        options += _option(OPT_COMMENT, record.comment.encode())
    if record.direction in DIRECTION_BITS:
        options += _option(EPB_FLAGS, struct.pack("<I", DIRECTION_BITS[record.direction]))
    if options:
        options += _option(OPT_ENDOFOPT, b"")
    return _block(EPB_TYPE, body + options)


def pcapng_bytes(records: list[Record], linktype: int = LINKTYPE_RAW) -> bytes:
    return header(linktype) + b"".join(packet_block(r) for r in records)


def read_pcapng(data: bytes) -> list[Record]:
    """The packets of a little-endian pcapng file written by this module (for tests and tools)."""
    records: list[Record] = []
    pos = 0
    while pos + 12 <= len(data):
        kind, total = struct.unpack_from("<II", data, pos)
        if total < 12 or pos + total > len(data):
            raise ValueError(f"pcapng: a block of length {total} at offset {pos}")
        if kind == EPB_TYPE:
            _, high, low, caplen, _orig = struct.unpack_from("<IIIII", data, pos + 8)
            start = pos + 28
            packet = data[start : start + caplen]
            opt = start + caplen + (-caplen % 4)
            comment, direction = None, ""
            while opt + 4 <= pos + total - 4:
                code, length = struct.unpack_from("<HH", data, opt)
                value = data[opt + 4 : opt + 4 + length]
                if code == OPT_ENDOFOPT:
                    break
                if code == OPT_COMMENT:
                    comment = value.decode()
                elif code == EPB_FLAGS:
                    bits = struct.unpack("<I", value)[0] & 0b11
                    direction = {v: k for k, v in DIRECTION_BITS.items()}.get(bits, "")
                opt += 4 + length + (-length % 4)
            records.append(Record(((high << 32) | low) / 1_000_000, direction, bytes(packet), comment))
        pos += total
    return records
