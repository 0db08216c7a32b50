"""SipHash-2-4 (minitcp/tcp/siphash.py, `mt_siphash` in native/minitcp_native.c): the
reference paper's vectors, the C function and its pure-Python twin agreeing, and the engine's
keyed hashes given the inputs Linux gives them (secure_tcp_seq, secure_tcp_ts_off,
cookie_hash, secure_ipv4_port_ephemeral), in the word order a little-endian Linux hashes."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitcp.tcp import siphash as sip
from minitcp.tcp.isn import IsnGenerator
from minitcp.tcp.syncookies import SynCookies

try:
    from minitcp._native import lib
except ImportError:
    lib = None

needs_native = pytest.mark.skipif(lib is None, reason="minitcp._native is not built (pip install -e .)")

# Aumasson and Bernstein, "SipHash: a fast short-input PRF" (2012), the reference code's
# vectors_sip64: key 00 01 .. 0f, message i the bytes 00 01 .. i-1, each digest's 8 bytes
# little-endian.
VECTORS = [
    "310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785", "b7877127e09427cf",
    "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab", "6224939a79f5f593", "b0e4a90bdf82009e",
    "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4", "fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7",
    "e545be4961ca29a1", "db9bc2577fcc2a3f", "9447be2cf5e99a69", "9cd38d96f0b3c14b", "bd6179a71dc96dbb",
    "98eea21af25cd6be", "c7673b2eb0cbf2d0", "883ea3e395675393", "c8ce5ccd8c030ca8", "94af49f6c650adb8",
    "eab8858ade92e1bc", "f315bb5bb835d817", "adcf6b0763612e2f", "a5c91da7acaa4dde", "716595876650a2a6",
    "28ef495c53a387ad", "42c341d8fa92d832", "ce7cf2722f512771", "e37859f94623f3a7", "381205bb1ab0e012",
    "ae97a10fd434e015", "b4a31508beff4d31", "81396229f0907902", "4d0cf49ee5d4dcca", "5c73336a76d8bf9a",
    "d0a704536ba93e0e", "925958fcd6420cad", "a915c29bc8067318", "952b79f3bc0aa6d4", "f21df2e41d4535f9",
    "87577519048f53a9", "10a56cf5dfcd9adb", "eb75095ccd986cd0", "51a9cb9ecba312e6", "96afadfc2ce666c7",
    "72fe52975a4364ee", "5a1645b276d592a1", "b274cb8ebf87870a", "6f9bb4203de7b381", "eaecb2a30b22a87f",
    "9924a43cc1315724", "bd838d3aafbf8db7", "0b1a2a3265d51aea", "135079a3231ce660", "932b2846e4d70666",
    "e1915f5cb1eca46c", "f325965ca16d629f", "575ff28e60381be5", "724506eb4c328a95",
]
KEY = bytes(range(16))


@pytest.mark.parametrize("n", range(64))
def test_the_pure_siphash_gives_the_papers_vectors(n: int) -> None:
    assert sip.siphash_pure(KEY, bytes(range(n))).to_bytes(8, "little").hex() == VECTORS[n]


@needs_native
@pytest.mark.parametrize("n", range(64))
def test_the_c_siphash_gives_the_papers_vectors(n: int) -> None:
    assert lib.mt_siphash(KEY, bytes(range(n)), n).to_bytes(8, "little").hex() == VECTORS[n]


@needs_native
@given(key=st.binary(min_size=16, max_size=16), data=st.binary(max_size=80))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_the_c_siphash_and_its_pure_twin_agree(key: bytes, data: bytes) -> None:
    assert lib.mt_siphash(key, data, len(data)) == sip.siphash_pure(key, data)


# Linux's word forms (include/linux/siphash.h) over the values an x86 Linux holds: a __be32
# address is its wire bytes read little-endian, a __be16 port its two bytes swapped.
def _be32(addr: int) -> int:
    return int.from_bytes(addr.to_bytes(4, "big"), "little")


def _be16(port: int) -> int:
    return int.from_bytes(port.to_bytes(2, "big"), "little")


def _siphash_2u32(a: int, b: int, key: bytes) -> int:
    return sip.siphash_pure(key, struct.pack("<Q", b << 32 | a))  # siphash_1u64


def _siphash_3u32(a: int, b: int, c: int, key: bytes) -> int:
    return sip.siphash_pure(key, struct.pack("<QI", b << 32 | a, c))


def _siphash_4u32(a: int, b: int, c: int, d: int, key: bytes) -> int:
    return sip.siphash_pure(key, struct.pack("<QQ", b << 32 | a, d << 32 | c))  # siphash_2u64


addrs4 = st.integers(1, 0xFFFFFFFF)
addrs6 = st.integers(1 << 64, (1 << 128) - 1)
ports = st.integers(0, 0xFFFF)


@given(laddr=addrs4, raddr=addrs4, lport=ports, rport=ports, now=st.floats(0, 1e6))
@settings(max_examples=100, deadline=None, derandomize=True)
def test_the_isn_and_ts_offset_are_linux_secure_tcp_seq_and_ts_off(laddr: int, raddr: int, lport: int,
                                                                   rport: int, now: float) -> None:
    """secure_tcp_seq(saddr, daddr, sport, dport) with our address and port as the source (as
    tcp_v4_connect and tcp_v4_init_seq call it) plus the 64 ns clock; secure_tcp_ts_off."""
    gen = IsnGenerator(b"linux-words")
    want = _siphash_3u32(_be32(laddr), _be32(raddr), _be16(lport) << 16 | _be16(rport), gen.net_secret)
    assert gen.isn(laddr, lport, raddr, rport, now) == (want + (int(now * 1e9) >> 6)) & 0xFFFFFFFF
    want_ts = _siphash_2u32(_be32(laddr), _be32(raddr), gen.ts_secret)
    assert gen.ts_offset(laddr, raddr) == want_ts & 0xFFFFFFFF


@given(laddr=addrs6, raddr=addrs6, lport=ports, rport=ports)
@settings(max_examples=50, deadline=None, derandomize=True)
def test_the_ipv6_isn_and_ts_offset_hash_linux_structs(laddr: int, raddr: int, lport: int,
                                                       rport: int) -> None:
    """secure_tcpv6_seq: struct {saddr, daddr, sport, dport}; secure_tcpv6_ts_off: {saddr, daddr}."""
    gen = IsnGenerator(b"linux-words")
    addrs = laddr.to_bytes(16, "big") + raddr.to_bytes(16, "big")
    want = sip.siphash_pure(gen.net_secret, addrs + lport.to_bytes(2, "big") + rport.to_bytes(2, "big"))
    assert gen.isn(laddr, lport, raddr, rport, 0.0) == want & 0xFFFFFFFF
    assert gen.ts_offset(laddr, raddr) == sip.siphash_pure(gen.ts_secret, addrs) & 0xFFFFFFFF


@given(saddr=addrs4, daddr=addrs4, sport=ports, dport=ports, count=st.integers(0, 0xFFFFFFFF),
       c=st.sampled_from([0, 1]))
@settings(max_examples=100, deadline=None, derandomize=True)
def test_the_cookie_hash_is_linux_cookie_hash(saddr: int, daddr: int, sport: int, dport: int, count: int,
                                              c: int) -> None:
    """net/ipv4/syncookies.c cookie_hash: siphash_4u32(saddr, daddr, sport << 16 | dport, count)
    under syncookie_secret[c]; net/ipv6/syncookies.c: struct {saddr, daddr, count, sport, dport}
    under syncookie6_secret[c]."""
    gen = IsnGenerator(b"linux-words")
    cookies = SynCookies(gen)
    want = _siphash_4u32(_be32(saddr), _be32(daddr), _be16(sport) << 16 | _be16(dport), count,
                         gen.syncookie_secret[c])
    assert cookies._hash(saddr, daddr, sport, dport, count, c) == want & 0xFFFFFFFF
    s6, d6 = saddr << 96 | 1, daddr << 96 | 2
    data6 = s6.to_bytes(16, "big") + d6.to_bytes(16, "big") + struct.pack("<I", count) \
        + sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
    assert cookies._hash(s6, d6, sport, dport, count, c) == \
        sip.siphash_pure(gen.syncookie6_secret[c], data6) & 0xFFFFFFFF


def test_each_use_has_its_own_key_and_a_secret_gives_the_same_keys() -> None:
    """Linux's separate secrets (net_secret, ts_secret, syncookie_secret[2], syncookie6_secret[2]):
    16 bytes each, all different; the same secret (tests, CookieParams) derives the same ones,
    another secret others, and none is the secret itself."""
    one, two, other = IsnGenerator(b"k"), IsnGenerator(b"k"), IsnGenerator(b"l")

    def keys(gen: IsnGenerator) -> list[bytes]:
        return [gen.net_secret, gen.ts_secret, *gen.syncookie_secret, *gen.syncookie6_secret]

    assert keys(one) == keys(two)
    assert len(set(keys(one) + keys(other))) == 12
    assert all(len(k) == 16 and k != b"k" for k in keys(one))
    assert len(IsnGenerator().secret) == 16 and IsnGenerator().secret != IsnGenerator().secret


def test_isns_of_a_four_tuple_rise_with_the_clock_and_differ_between_tuples() -> None:
    """RFC 6528 section 3: M + F, F fixed per four-tuple, so one tuple's ISNs follow the 64 ns
    clock while two tuples' are unrelated."""
    gen = IsnGenerator(b"monotonic")
    four = (0xC6120002, 40000, 0xC6120001, 80)
    isns = [gen.isn(*four, now=t) for t in (1.0, 1.5, 2.0)]
    assert [(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(isns)] == [int(0.5e9) >> 6] * 2
    assert gen.isn(*four, now=1.0) != gen.isn(0xC6120002, 40001, 0xC6120001, 80, now=1.0)
