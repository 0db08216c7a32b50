"""The C hot paths (IPv4 and IPv6) behind Python signatures; ImportError without `minitcp._native`.

The boundary is shaped for speed: one C call validates and parses a packet
into a preallocated uint32 field array, one struct call unpacks that array,
and the Segment is made with `object.__new__` plus slot stores, skipping the
keyword handling of `Segment.__init__`. bytes are passed to C as they are (cffi
hands C the object's own buffer); other buffers go through `ffi.from_buffer`.
The preallocated arrays make these functions non-reentrant across threads,
which suits the single-threaded Trio stack.
"""

from __future__ import annotations

import struct
from itertools import chain

from minitcp._native import ffi, lib
from minitcp.wire.checksum import BytesLike
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.segment import Segment, Segment6

_from_buffer = ffi.from_buffer
_new = object.__new__
_flatten = chain.from_iterable
_parse = lib.mt_parse_tcp
_parse_csum_partial = lib.mt_parse_tcp_csum_partial
_build = lib.mt_build_tcp
_parse6 = lib.mt_parse_tcp6
_parse6_csum_partial = lib.mt_parse_tcp6_csum_partial
_build6 = lib.mt_build_tcp6
_pseudo6 = lib.mt_pseudo_header_sum6
_csum_add = lib.mt_csum_add
_checksum = lib.mt_checksum
_MAX_SACK = lib.MT_MAX_SACK
_MAX_PACKET = lib.MT_MAX_PACKET
_MAX_PACKET6 = lib.MT_MAX_PACKET6

_FIELDS = ffi.new("uint32_t[]", lib.MT_F_COUNT)
_FIELDS_BUF = ffi.buffer(_FIELDS)
_unpack_fields = struct.Struct(f"={lib.MT_F_SACK}I").unpack_from
_pack_fields = struct.Struct(f"={lib.MT_F_SACK}I").pack_into
_SACK_OFFSET = lib.MT_F_SACK * 4
_SACK_PAIRS = [struct.Struct(f"={2 * n}I") for n in range(lib.MT_MAX_SACK + 1)]
_OUT = ffi.new("char[]", lib.MT_MAX_PACKET6)  # room for either family's largest packet
_OUT_BUF = ffi.buffer(_OUT)

_OPT_MSS = lib.MT_OPT_MSS
_OPT_WSCALE = lib.MT_OPT_WSCALE
_OPT_SACK_PERM = lib.MT_OPT_SACK_PERM
_OPT_TS = lib.MT_OPT_TS


def csum_add(buf: BytesLike, initial: int = 0) -> int:
    """C twin of `checksum.csum_add`."""
    return _csum_add(buf if type(buf) is bytes else _from_buffer(buf), len(buf), initial)


def checksum(buf: BytesLike, initial: int = 0) -> int:
    """C twin of `checksum.checksum`."""
    return _checksum(buf if type(buf) is bytes else _from_buffer(buf), len(buf), initial)


pseudo_header_sum = lib.mt_pseudo_header_sum


def pseudo_header_sum6(src: int, dst: int, proto: int, length: int) -> int:
    """C twin of `checksum.pseudo_header_sum6`."""
    return _pseudo6(src.to_bytes(16, "big"), dst.to_bytes(16, "big"), proto, length)


csum_update16 = lib.mt_csum_update16
csum_update32 = lib.mt_csum_update32


def parse_tcp_packet(buf: BytesLike, csum_partial: bool = False) -> Segment:
    """C twin of `tcp_pure.parse_tcp_packet`."""
    rc = (_parse_csum_partial if csum_partial else _parse)(
        buf if type(buf) is bytes else _from_buffer(buf), len(buf), _FIELDS)
    if rc:
        raise WireError(DropReason(-rc))
    seg = _new(Segment)
    # Unpacking straight into the slots saves a local store and load per field.
    (seg.src, seg.dst, seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, seg.window, seg.urgent,
     seg.ttl, seg.tos, seg.ip_id, df, opts, mss, wscale, ts_val, ts_ecr, nsack, offset,
     length) = _unpack_fields(_FIELDS_BUF)  # fmt: skip
    seg.df = df == 1
    seg.gso = 0
    if opts:
        seg.mss = mss if opts & _OPT_MSS else None
        seg.wscale = wscale if opts & _OPT_WSCALE else None
        seg.sack_permitted = opts & _OPT_SACK_PERM != 0
        if opts & _OPT_TS:
            seg.ts_val = ts_val
            seg.ts_ecr = ts_ecr
        else:
            seg.ts_val = seg.ts_ecr = None
    else:
        seg.mss = seg.wscale = seg.ts_val = seg.ts_ecr = None
        seg.sack_permitted = False
    if nsack:
        edges = iter(_SACK_PAIRS[nsack].unpack_from(_FIELDS_BUF, _SACK_OFFSET))
        seg.sack = tuple(zip(edges, edges, strict=True))
    else:
        seg.sack = ()
    seg.payload = memoryview(buf)[offset : offset + length]
    return seg


def build_tcp_packet(seg: Segment) -> bytes:
    """C twin of `tcp_pure.build_tcp_packet`."""
    opts = 0
    mss = seg.mss
    if mss is None:
        mss = 0
    else:
        opts = _OPT_MSS
    wscale = seg.wscale
    if wscale is None:
        wscale = 0
    else:
        opts |= _OPT_WSCALE
    if seg.sack_permitted:
        opts |= _OPT_SACK_PERM
    ts_val = seg.ts_val
    if ts_val is None:
        ts_val = ts_ecr = 0
    else:
        opts |= _OPT_TS
        ts_ecr = seg.ts_ecr or 0
    blocks = seg.sack[:_MAX_SACK]
    try:
        _pack_fields(
            _FIELDS_BUF, 0, seg.src, seg.dst, seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, seg.window,
            seg.urgent, seg.ttl, seg.tos, seg.ip_id, 1 if seg.df else 0, opts, mss, wscale, ts_val, ts_ecr,
            len(blocks), 0, 0,
        )  # fmt: skip
        if blocks:
            _SACK_PAIRS[len(blocks)].pack_into(_FIELDS_BUF, _SACK_OFFSET, *_flatten(blocks))
    except struct.error as exc:
        raise ValueError(f"TCP/IP field out of range: {exc}") from None
    payload = seg.payload
    if type(payload) is not bytes:
        payload = _from_buffer(payload)
    length = _build(_OUT, _MAX_PACKET, _FIELDS, payload, len(payload))
    if length < 0:
        raise ValueError("TCP/IP field out of range or packet over 65535 bytes")
    return _OUT_BUF[0:length]


# The IPv6 twins below repeat the IPv4 functions' option handling line for line rather than
# share a helper with them: that would add a Python call per segment to the IPv4 hot path.


def parse_tcp6_packet(buf: BytesLike, csum_partial: bool = False) -> Segment6:
    """C twin of `tcp_pure.parse_tcp6_packet`."""
    rc = (_parse6_csum_partial if csum_partial else _parse6)(
        buf if type(buf) is bytes else _from_buffer(buf), len(buf), _FIELDS)
    if rc:
        raise WireError(DropReason(-rc))
    seg = _new(Segment6)
    # The addresses are read from the packet itself: they sit at fixed offsets (RFC 8200 section 3).
    (_, _, seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, seg.window, seg.urgent,
     seg.ttl, seg.tos, seg.flow_label, _, opts, mss, wscale, ts_val, ts_ecr, nsack, offset,
     length) = _unpack_fields(_FIELDS_BUF)  # fmt: skip
    view = memoryview(buf)
    seg.src = int.from_bytes(view[8:24], "big")
    seg.dst = int.from_bytes(view[24:40], "big")
    seg.ip_id = seg.gso = 0
    seg.df = True
    if opts:
        seg.mss = mss if opts & _OPT_MSS else None
        seg.wscale = wscale if opts & _OPT_WSCALE else None
        seg.sack_permitted = opts & _OPT_SACK_PERM != 0
        if opts & _OPT_TS:
            seg.ts_val = ts_val
            seg.ts_ecr = ts_ecr
        else:
            seg.ts_val = seg.ts_ecr = None
    else:
        seg.mss = seg.wscale = seg.ts_val = seg.ts_ecr = None
        seg.sack_permitted = False
    if nsack:
        edges = iter(_SACK_PAIRS[nsack].unpack_from(_FIELDS_BUF, _SACK_OFFSET))
        seg.sack = tuple(zip(edges, edges, strict=True))
    else:
        seg.sack = ()
    seg.payload = view[offset : offset + length]
    return seg


def build_tcp6_packet(seg: Segment6) -> bytes:
    """C twin of `tcp_pure.build_tcp6_packet`."""
    opts = 0
    mss = seg.mss
    if mss is None:
        mss = 0
    else:
        opts = _OPT_MSS
    wscale = seg.wscale
    if wscale is None:
        wscale = 0
    else:
        opts |= _OPT_WSCALE
    if seg.sack_permitted:
        opts |= _OPT_SACK_PERM
    ts_val = seg.ts_val
    if ts_val is None:
        ts_val = ts_ecr = 0
    else:
        opts |= _OPT_TS
        ts_ecr = seg.ts_ecr or 0
    blocks = seg.sack[:_MAX_SACK]
    try:
        addrs = seg.src.to_bytes(16, "big") + seg.dst.to_bytes(16, "big")
        _pack_fields(
            _FIELDS_BUF, 0, 0, 0, seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, seg.window,
            seg.urgent, seg.ttl, seg.tos, seg.flow_label, 0, opts, mss, wscale, ts_val, ts_ecr,
            len(blocks), 0, 0,
        )  # fmt: skip
        if blocks:
            _SACK_PAIRS[len(blocks)].pack_into(_FIELDS_BUF, _SACK_OFFSET, *_flatten(blocks))
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"TCP/IPv6 field out of range: {exc}") from None
    payload = seg.payload
    if type(payload) is not bytes:
        payload = _from_buffer(payload)
    length = _build6(_OUT, _MAX_PACKET6, _FIELDS, addrs, payload, len(payload))
    if length < 0:
        raise ValueError("TCP/IPv6 field out of range or payload over 65535 bytes")
    return _OUT_BUF[0:length]
