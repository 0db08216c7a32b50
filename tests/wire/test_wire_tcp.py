"""IPv4+TCP parse and build: option layouts, Linux golden packets, every drop reason, fuzzing.

Each test runs against both implementations, the pure-Python twin and the C
extension (skipped only when it is not built).
"""

from __future__ import annotations

import contextlib
import struct
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitcp.wire.checksum import checksum, pseudo_header_sum
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, build_ipv4, ip_int
from minitcp.wire.segment import ACK, FIN, PSH, SYN, Segment
from minitcp.wire.tcp_options import encode_tcp_options

from .impls import IMPLS

A = ip_int("198.18.0.1")
B = ip_int("198.18.0.2")


def raw_tcp(options: bytes = b"", payload: bytes = b"", *, data_offset: int | None = None) -> bytes:
    """A packet assembled by hand, independent of the builders, with correct checksums."""
    if data_offset is None:
        data_offset = 5 + len(options) // 4
    header = struct.pack("!HHIIBBHHH", 1000, 80, 1, 2, data_offset << 4, ACK, 512, 0, 0)
    segment = bytearray(header + options + payload)
    segment[16:18] = checksum(segment, pseudo_header_sum(A, B, PROTO_TCP, len(segment))).to_bytes(2, "big")
    return build_ipv4(A, B, PROTO_TCP, segment)


# Captured from Linux 6.x through a TUN device (full checksums, no offload):
# 198.18.0.1:44412 > 198.18.0.2:8080 SYN, mss 1460, sackOK, TS val 1212249899 ecr 0, wscale 10.
LINUX_SYN = bytes.fromhex(
    "4500003cb97f40004006f514c6120001c6120002ad7c1f9098c55c7500000000a002faf03f30"
    "0000020405b40402080a4841772b000000000103030a"
)
# Its duplicate ACK after two out-of-order segments: nop,nop,TS, nop,nop,sack 2 blocks.
LINUX_SACK = bytes.fromhex(
    "45000048b98240004006f505c6120001c6120002ad7c1f9098c55c76000003e9d010003ff8ab"
    "00000101080a48417920000000640101051200000515000005790000044d000004b1"
)


@pytest.mark.parametrize("impl", IMPLS)
def test_linux_syn(impl: ModuleType) -> None:
    seg = impl.parse_tcp_packet(LINUX_SYN)
    assert seg == Segment(
        A, B, 44412, 8080, 0x98C55C75, 0, SYN, 64240,
        mss=1460, wscale=10, sack_permitted=True, ts_val=0x4841772B, ts_ecr=0,
        ttl=64, tos=0, ip_id=0xB97F, df=True,
    )  # fmt: skip
    # Our layout is Linux's: rebuilding gives the captured bytes back.
    assert impl.build_tcp_packet(seg) == LINUX_SYN


@pytest.mark.parametrize("impl", IMPLS)
def test_linux_sack(impl: ModuleType) -> None:
    seg = impl.parse_tcp_packet(LINUX_SACK)
    assert (seg.flags, seg.seq, seg.ack, seg.window) == (ACK, 0x98C55C76, 0x3E9, 63)
    assert seg.sack == ((0x515, 0x579), (0x44D, 0x4B1))
    assert (seg.ts_val, seg.ts_ecr) == (0x48417920, 100)
    assert (seg.mss, seg.wscale, seg.sack_permitted) == (None, None, False)
    assert impl.build_tcp_packet(seg) == LINUX_SACK


OPTION_CASES = {
    "none": {},
    "syn_all": {"mss": 1460, "sack_permitted": True, "ts_val": 7, "ts_ecr": 0, "wscale": 7},
    "syn_ts_only": {"mss": 536, "ts_val": 1, "ts_ecr": 2},
    "syn_sackperm_only": {"mss": 1460, "sack_permitted": True, "wscale": 0},
    "wscale_only": {"wscale": 14},
    "ts": {"ts_val": 0xFFFFFFFF, "ts_ecr": 0x12345678},
    "sack_1": {"sack": ((10, 20),)},
    "sack_4": {"sack": ((1, 2), (3, 4), (5, 6), (7, 8))},
    "ts_sack_3": {"ts_val": 5, "ts_ecr": 6, "sack": ((1, 2), (3, 4), (5, 6))},
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("options", OPTION_CASES.values(), ids=OPTION_CASES.keys())
@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(256)) * 6])
def test_round_trip(impl: ModuleType, options: dict, payload: bytes) -> None:
    flags = SYN if "mss" in options else ACK | PSH | FIN
    seg = Segment(A, B, 1, 65535, 0xFFFFFFFF, 12345, flags, 29200, payload, urgent=3, **options,
                  ttl=1, tos=0xB8, ip_id=77, df=False)  # fmt: skip
    raw = impl.build_tcp_packet(seg)
    assert len(raw) == 40 + len(encode_tcp_options(seg)) + len(payload)
    back = impl.parse_tcp_packet(raw)
    assert back == seg
    assert isinstance(back.payload, memoryview)
    assert back.payload.obj is raw  # a view of the input, not a copy


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"mss": 1460, "sack_permitted": True, "ts_val": 1, "ts_ecr": 2, "wscale": 7},
         "020405b4" "0402080a0000000100000002" "01030307"),
        ({"mss": 1460, "ts_val": 1, "ts_ecr": 2}, "020405b4" "0101080a0000000100000002"),
        ({"mss": 1460, "sack_permitted": True}, "020405b4" "01010402"),
        ({"ts_val": 1, "ts_ecr": 2, "sack": ((3, 4),)},
         "0101080a0000000100000002" "0101050a0000000300000004"),
        # With timestamps only 3 SACK blocks fit in 40 bytes; the 4th is dropped.
        ({"ts_val": 1, "ts_ecr": 2, "sack": ((1, 2), (3, 4), (5, 6), (7, 8))},
         "0101080a0000000100000002" "0101051a" + "".join(f"{n:08x}" for n in range(1, 7))),
        ({"sack": tuple((n, n + 1) for n in range(0, 10, 2))},
         "01010522" + "".join(f"{n:08x}" for n in range(8))),
    ],
)  # fmt: skip
def test_option_layout(options: dict, expected: str) -> None:
    assert encode_tcp_options(Segment(A, B, 1, 2, 3, 4, ACK, 5, **options)).hex() == expected


@pytest.mark.parametrize("impl", IMPLS)
def test_builder_drops_sack_blocks_that_do_not_fit(impl: ModuleType) -> None:
    # MSS + SACK-perm + TS + wscale use 20 bytes: room for 2 blocks (Linux's rule).
    seg = Segment(A, B, 1, 2, 3, 4, ACK, 5, mss=1, sack_permitted=True, ts_val=1, ts_ecr=1, wscale=1,
                  sack=((1, 2), (3, 4), (5, 6)))  # fmt: skip
    assert impl.parse_tcp_packet(impl.build_tcp_packet(seg)).sack == ((1, 2), (3, 4))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    ("options", "parsed"),
    [
        (b"\x02\x03\x05\x01", {}),  # MSS of length 3: ignored like Linux
        (b"\x03\x04\x07\x00", {}),  # window scale of length 4: ignored
        (b"\x04\x03\x00\x01", {}),  # SACK-permitted of length 3: ignored
        (b"\x05\x06" + bytes(4) + b"\x01\x01", {}),  # SACK of no whole block: ignored
        (b"\x00\x02\x04\x05\xb4" + bytes(3), {}),  # EOL ends the list
        (b"\xfe\x04\xaa\xbb", {}),  # unknown kind skipped by its length
        (b"\x02\x04\x01\x00\x02\x04\x02\x00", {"mss": 512}),  # the last one wins
        (b"\x01\x01\x01\x03\x03\x0f", {"wscale": 15}),  # raw value, clamping is the engine's
    ],
)
def test_option_parsing_rules(impl: ModuleType, options: bytes, parsed: dict) -> None:
    seg = impl.parse_tcp_packet(raw_tcp(options.ljust(-(-len(options) // 4) * 4, b"\0")))
    names = ("mss", "wscale", "sack_permitted", "sack", "ts_val")
    absent = {"mss": None, "wscale": None, "sack_permitted": False, "sack": (), "ts_val": None}
    assert {name: getattr(seg, name) for name in names} == absent | parsed


def tcp_with_ip_options() -> bytes:
    segment = raw_tcp(b"", b"hi")[20:]
    header = bytearray(build_ipv4(A, B, PROTO_TCP, segment)[:20])
    header[0], header[3] = 0x46, header[3] + 4
    header[10:12] = b"\0\0"
    header += b"\x01\x01\x01\x00"
    header[10:12] = checksum(header).to_bytes(2, "big")
    return bytes(header) + segment


def corrupt(raw: bytes, offset: int, value: int) -> bytes:
    return raw[:offset] + bytes((value,)) + raw[offset + 1 :]


GOOD = raw_tcp(b"\x02\x04\x05\xb4", b"hello")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", DropReason.TRUNCATED),
        (GOOD[:19], DropReason.TRUNCATED),
        (corrupt(GOOD, 0, 0x55), DropReason.BAD_VERSION),
        (corrupt(GOOD, 0, 0x43), DropReason.BAD_IHL),
        (GOOD[:-1], DropReason.BAD_TOTAL_LENGTH),
        (corrupt(GOOD, 8, 63), DropReason.BAD_IP_CHECKSUM),
        (build_ipv4(A, B, PROTO_ICMP, bytes(8)), DropReason.NOT_TCP),
        (build_ipv4(A, B, PROTO_TCP, bytes(19)), DropReason.TRUNCATED),
        (raw_tcp(data_offset=4), DropReason.BAD_DATA_OFFSET),
        (raw_tcp(b"", b"abc", data_offset=6), DropReason.BAD_DATA_OFFSET),
        (corrupt(GOOD, 45, ord("j")), DropReason.BAD_TCP_CHECKSUM),
        (raw_tcp(b"\x01\x01\x01\x02"), DropReason.BAD_OPTION),  # length byte missing
        (raw_tcp(b"\x08\x01\x00\x00"), DropReason.BAD_OPTION),  # length below 2
        (raw_tcp(b"\x08\x0a\x00\x00"), DropReason.BAD_OPTION),  # runs past the header
    ],
)
def test_rejects(impl: ModuleType, raw: bytes, reason: DropReason) -> None:
    with pytest.raises(WireError) as info:
        impl.parse_tcp_packet(raw)
    assert info.value.reason is reason


@pytest.mark.parametrize("impl", IMPLS)
def test_ip_options_and_padding(impl: ModuleType) -> None:
    raw = tcp_with_ip_options()
    seg = impl.parse_tcp_packet(raw + b"\0\0")
    assert bytes(seg.payload) == b"hi"
    assert (seg.sport, seg.dport) == (1000, 80)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "change",
    [{"sport": 65536}, {"window": -1}, {"flags": 256}, {"ttl": 300}, {"seq": 1 << 32}, {"mss": 70000},
     {"wscale": 256}, {"sack": ((1, 1 << 32),)}, {"payload": bytes(65496)}],
)  # fmt: skip
def test_build_rejects_out_of_range(impl: ModuleType, change: dict) -> None:
    seg = Segment(A, B, 1, 2, 3, 4, ACK, 5)
    for key, value in change.items():
        setattr(seg, key, value)
    with pytest.raises(ValueError):
        impl.build_tcp_packet(seg)


@pytest.mark.parametrize("impl", IMPLS)
def test_largest_packet(impl: ModuleType) -> None:
    seg = Segment(A, B, 1, 2, 3, 4, ACK, 5, bytes(65495))
    assert len(impl.build_tcp_packet(seg)) == 65535


@pytest.mark.parametrize("impl", IMPLS)
@given(raw=st.binary(max_size=120))
def test_fuzz_random_bytes(impl: ModuleType, raw: bytes) -> None:
    with contextlib.suppress(WireError):
        impl.parse_tcp_packet(raw)


@pytest.mark.parametrize("impl", IMPLS)
@given(options=st.binary(max_size=40), payload=st.binary(max_size=16), offset=st.integers(0, 15))
def test_fuzz_options(impl: ModuleType, options: bytes, payload: bytes, offset: int) -> None:
    # Valid checksums with arbitrary option bytes and data offsets reach the option parser.
    options = options.ljust(-(-len(options) // 4) * 4, b"\0")
    with contextlib.suppress(WireError):
        impl.parse_tcp_packet(raw_tcp(options, payload, data_offset=offset))
