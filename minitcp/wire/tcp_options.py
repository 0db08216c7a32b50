"""TCP options (RFC 9293 section 3.2): the pure-Python parser and Linux's encoding layout.

The C twins in native/minitcp_native.c (parse_options, write_options) follow
these functions rule for rule; tests hold them to identical results.
"""

from __future__ import annotations

import struct
from itertools import chain

from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.segment import Segment

# Option kinds: RFC 9293 section 3.2 (EOL, NOP, MSS), RFC 7323 (window scale,
# timestamps), RFC 2018 (SACK permitted, SACK).
OPT_EOL = 0
OPT_NOP = 1
OPT_MSS = 2
OPT_WSCALE = 3
OPT_SACK_PERM = 4
OPT_SACK = 5
OPT_TIMESTAMP = 8

MAX_OPTION_SPACE = 40  # data offset is 4 bits of 32-bit words: 60-byte header, 20 fixed
MAX_SACK_BLOCKS = 4  # (40 - 2) // 8, RFC 2018 section 3

# Linux's aligned encodings (include/net/tcp.h TCPOPT_* and tcp_options_write()).
_MSS = struct.Struct("!BBH")
_NOP_NOP_TS = struct.Struct("!BBBBII")
_NOP_WSCALE = struct.Struct("!BBBB")
_NOP_NOP_SACK_PERM = bytes((OPT_NOP, OPT_NOP, OPT_SACK_PERM, 2))
_SACK_HEADER_LEN = 4  # NOP NOP kind length
_SACK_BLOCK_LEN = 8

OptionValues = tuple[int | None, int | None, bool, tuple[tuple[int, int], ...], int | None, int | None]


def parse_tcp_options(options: memoryview) -> OptionValues:
    """(mss, wscale, sack_permitted, sack, ts_val, ts_ecr) from the option bytes of a header.

    Parsed like Linux's tcp_parse_options(): a length byte that is missing,
    below 2 or past the header raises WireError(BAD_OPTION); a known option of
    the wrong length is skipped; EOL ends the list; a repeated option
    overwrites the earlier one. Values are reported raw (a window scale above
    14 is the engine's to clamp, RFC 7323 section 2.3).
    """
    mss = wscale = ts_val = ts_ecr = None
    sack_permitted = False
    sack: tuple[tuple[int, int], ...] = ()
    end = len(options)
    i = 0
    while i < end:
        kind = options[i]
        if kind == OPT_EOL:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if end - i < 2:
            raise WireError(DropReason.BAD_OPTION, f"option {kind} has no length byte")
        length = options[i + 1]
        if length < 2 or length > end - i:
            raise WireError(DropReason.BAD_OPTION, f"option {kind} length {length}, {end - i} bytes left")
        if kind == OPT_MSS and length == 4:
            mss = options[i + 2] << 8 | options[i + 3]
        elif kind == OPT_WSCALE and length == 3:
            wscale = options[i + 2]
        elif kind == OPT_SACK_PERM and length == 2:
            sack_permitted = True
        elif kind == OPT_SACK and length >= 10 and (length - 2) % _SACK_BLOCK_LEN == 0:
            edges = iter(struct.unpack_from(f"!{(length - 2) // 4}I", options, i + 2))
            sack = tuple(zip(edges, edges, strict=True))
        elif kind == OPT_TIMESTAMP and length == 10:
            ts_val, ts_ecr = struct.unpack_from("!II", options, i + 2)
        i += length
    return mss, wscale, sack_permitted, sack, ts_val, ts_ecr


def encode_tcp_options(seg: Segment) -> bytes:
    """The option bytes for `seg`, in the order and alignment Linux writes them.

    MSS; SACK-permitted and timestamps (adjacent when both, else each behind
    two NOPs); NOP + window scale; NOP NOP + SACK blocks, as many as fit in
    what is left of the 40 bytes (3 beside timestamps, 4 without). Every piece
    is a multiple of 4 bytes, so no EOL padding is ever needed. Options are
    written whenever set, SYN or not, so tests can build odd packets.
    """
    parts: list[bytes] = []
    try:
        if seg.mss is not None:
            parts.append(_MSS.pack(OPT_MSS, 4, seg.mss))
        if seg.ts_val is not None:
            lead = (OPT_SACK_PERM, 2) if seg.sack_permitted else (OPT_NOP, OPT_NOP)
            parts.append(_NOP_NOP_TS.pack(*lead, OPT_TIMESTAMP, 10, seg.ts_val, seg.ts_ecr or 0))
        elif seg.sack_permitted:
            parts.append(_NOP_NOP_SACK_PERM)
        if seg.wscale is not None:
            parts.append(_NOP_WSCALE.pack(OPT_NOP, OPT_WSCALE, 3, seg.wscale))
        used = sum(map(len, parts))
        blocks = seg.sack[: (MAX_OPTION_SPACE - used - _SACK_HEADER_LEN) // _SACK_BLOCK_LEN]
        if blocks:
            parts.append(bytes((OPT_NOP, OPT_NOP, OPT_SACK, 2 + _SACK_BLOCK_LEN * len(blocks))))
            parts.append(struct.pack(f"!{2 * len(blocks)}I", *chain.from_iterable(blocks)))
    except struct.error as exc:
        raise ValueError(f"TCP option value out of range: {exc}") from None
    return b"".join(parts)
