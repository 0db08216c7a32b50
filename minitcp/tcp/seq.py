"""Sequence-number arithmetic modulo 2**32 (RFC 9293 section 3.4, RFC 1982).

Every comparison of sequence or acknowledgement numbers in the engine goes
through these helpers, so wrap-around at 2**32 is never a special case.
"""

MASK = 0xFFFFFFFF
_HALF = 0x80000000


def seq_add(a: int, n: int) -> int:
    return (a + n) & MASK


def seq_diff(a: int, b: int) -> int:
    """a - b as a signed distance, for a and b less than 2**31 apart."""
    d = (a - b) & MASK
    return d - 0x100000000 if d & _HALF else d


def seq_lt(a: int, b: int) -> bool:
    return a != b and (a - b) & _HALF != 0


def seq_le(a: int, b: int) -> bool:
    return a == b or (a - b) & _HALF != 0


def seq_gt(a: int, b: int) -> bool:
    return a != b and (b - a) & _HALF != 0


def seq_ge(a: int, b: int) -> bool:
    return a == b or (b - a) & _HALF != 0


def seq_max(a: int, b: int) -> int:
    return b if seq_lt(a, b) else a


def seq_min(a: int, b: int) -> int:
    return a if seq_lt(a, b) else b
