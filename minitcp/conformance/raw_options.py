"""TCP options minitcp's wire format does not carry: added to a packet the remote host sends,
read from one the stack sent.

Linux's scripts send TCP Fast Open cookies (RFC 7413 section 4.1.1: option 34,
or the experimental option 254 with magic 0xF989, RFC 6994) and TCP-MD5
signatures (RFC 2385: option 19, a 16-byte digest). minitcp's `Segment` has
no field for them, so the runner appends their bytes to the TCP options of the
packet it built, and fixes the lengths and checksums. A `>` line's Fast Open
option is compared with the stack's, kind and cookie, as packetdrill compares
every option (run_packet.c verify_outbound_live_tcp_options).

run_all.py's TFO_COOKIE written out in a script (`FO 3021b9d889017eeb`) is the
cookie for run_all.py's addresses: it moves with them to the runner's, as the
referee moves it (packetdrill_common.ADDRESS_MAP).
"""

from __future__ import annotations

import struct

from ..wire.checksum import checksum, pseudo_header_sum, pseudo_header_sum6
from ..wire.ipv4 import PROTO_TCP
from .model import Option
from .packetdrill_common import RUN_ALL_COOKIE, RUN_ALL_DEFINES

KIND_MD5 = 19  # RFC 2385
KIND_FAST_OPEN = 34  # RFC 7413
KIND_EXPERIMENT = 254  # RFC 6994: shared experimental option, told apart by its magic
FAST_OPEN_MAGIC = 0xF989  # RFC 7413 section 4.1.1, before option 34 was assigned
NOP = 1
MAX_OPTIONS = 40  # RFC 9293 section 3.1: a data offset of 15 words
EOL = 0
_MOVED_COOKIES = {RUN_ALL_COOKIE: dict(RUN_ALL_DEFINES)["TFO_COOKIE"]}


def cookie(value: object) -> str:
    """A script's FO/FOEXP value as the cookie's hex on the runner's addresses ("" for none)."""
    text = value.lower() if isinstance(value, str) else ""
    return _MOVED_COOKIES.get(text, text)


def encode(opt: Option) -> bytes | None:
    """The bytes of a FO, FOEXP or md5 option (None for a kind `Segment` carries itself)."""
    if opt.kind == "AccECN":
        raise ValueError("the runner does not build AccECN options (draft-ietf-tcpm-accurate-ecn)")
    if opt.kind not in ("FO", "FOEXP", "md5"):
        return None
    value = cookie(opt.value) if opt.kind != "md5" else opt.value
    try:
        data = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raise ValueError(f"{opt.kind} {value}: not hexadecimal (is it a -D name left undefined?)") from None
    if opt.kind == "md5":
        return bytes((KIND_MD5, 2 + len(data))) + data
    if opt.kind == "FO":
        return bytes((KIND_FAST_OPEN, 2 + len(data))) + data
    return bytes((KIND_EXPERIMENT, 4 + len(data))) + struct.pack("!H", FAST_OPEN_MAGIC) + data


def add_options(packet: bytes, extra: bytes) -> bytes:
    """`packet` (IPv4 or IPv6, without extension headers, and TCP) with `extra` appended to its
    TCP options, NOP-padded to whole words."""
    v6 = packet[0] >> 4 == 6
    ihl = 40 if v6 else (packet[0] & 0xF) * 4
    tcp = packet[ihl:]
    doff = (tcp[12] >> 4) * 4
    options = tcp[20:doff] + extra
    options += bytes((NOP,)) * (-len(options) % 4)
    if len(options) > MAX_OPTIONS:
        raise ValueError(f"{len(options)} bytes of TCP options: more than the header can hold")
    header = bytearray(tcp[:20])
    header[12] = ((20 + len(options)) // 4) << 4 | (header[12] & 0xF)
    header[16:18] = b"\0\0"
    segment = bytes(header) + options + tcp[doff:]
    if v6:
        src, dst = int.from_bytes(packet[8:24], "big"), int.from_bytes(packet[24:40], "big")
        pseudo = pseudo_header_sum6(src, dst, PROTO_TCP, len(segment))
    else:
        src, dst = struct.unpack("!II", packet[12:20])
        pseudo = pseudo_header_sum(src, dst, PROTO_TCP, len(segment))
    csum = checksum(segment, pseudo)
    segment = segment[:16] + struct.pack("!H", csum) + segment[18:]
    if v6:
        return packet[:4] + struct.pack("!H", len(segment)) + packet[6:40] + segment
    ip = bytearray(packet[:ihl])
    ip[2:4] = struct.pack("!H", ihl + len(segment))
    ip[10:12] = b"\0\0"
    ip[10:12] = struct.pack("!H", checksum(bytes(ip)))
    return bytes(ip) + segment


def fast_open(packet: bytes) -> tuple[str, str] | None:
    """The Fast Open option of an IPv4 TCP packet, as ("FO" or "FOEXP", cookie hex), or None."""
    ihl = (packet[0] & 0xF) * 4
    tcp = packet[ihl:]
    if len(tcp) < 20:
        return None
    options = tcp[20:(tcp[12] >> 4) * 4]
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == EOL:
            break
        if kind == NOP:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            break  # malformed: nothing more to read
        data = options[i + 2:i + options[i + 1]]
        if kind == KIND_FAST_OPEN:
            return "FO", data.hex()
        if kind == KIND_EXPERIMENT and data[:2] == struct.pack("!H", FAST_OPEN_MAGIC):
            return "FOEXP", data[2:].hex()
        i += options[i + 1]
    return None


def fast_open_mismatch(options: tuple[Option, ...], packet: bytes) -> str | None:
    """What differs between a `>` line's Fast Open option (or its absence) and the packet's."""
    want = next(((o.kind, cookie(o.value)) for o in options if o.kind in ("FO", "FOEXP")), None)
    got = fast_open(packet)
    if want == got:
        return None

    def show(option: tuple[str, str] | None) -> str:
        return "none" if option is None else " ".join(part for part in option if part)
    return f"Fast Open option {show(got)} instead of {show(want)}"
