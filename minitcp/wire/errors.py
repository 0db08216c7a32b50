"""Why a packet was dropped: reason codes shared by the C parser and its pure-Python twin."""

from __future__ import annotations

import enum


class DropReason(enum.IntEnum):
    """Reasons a received packet is rejected.

    The numbers are part of the C ABI: `native/minitcp_native.h` returns them
    negated, and a test checks both sides agree.
    """

    TRUNCATED = 1  # shorter than a fixed header
    BAD_VERSION = 2  # RFC 791 section 3.1 / RFC 8200 section 3: 4, or 6 for IPv6 parsers
    BAD_IHL = 3  # RFC 791 section 3.1: IHL is at least 5 words
    BAD_TOTAL_LENGTH = 4  # RFC 791 section 3.1: header <= total length <= bytes received (or payload length)
    BAD_IP_CHECKSUM = 5  # RFC 791 section 3.1 header checksum
    FRAGMENT = 6  # RFC 791 section 3.2 / RFC 8200 section 4.5: a fragment, not a whole datagram
    NOT_TCP = 7  # protocol field is not 6
    BAD_DATA_OFFSET = 8  # RFC 9293 section 3.1: 5 <= data offset, header within the segment
    BAD_OPTION = 9  # RFC 9293 section 3.2: option length missing, < 2 or past the header
    BAD_TCP_CHECKSUM = 10  # RFC 9293 section 3.1 checksum over the pseudo-header
    BAD_ICMP = 11  # RFC 792 / RFC 4443 section 2.1: shorter than the 8-byte ICMP header
    BAD_ICMP_CHECKSUM = 12  # RFC 792 checksum; RFC 4443 section 2.3, over the IPv6 pseudo-header too
    UNSUPPORTED_PROTOCOL = 13  # an IPv4 protocol the stack does not speak
    # IPv6 extension headers (RFC 8200 section 4), judged as Linux's ip6_parse_tlv and ipv6_rthdr_rcv do.
    BAD_EXT_HEADER = 14  # runs past the payload, malformed options or padding, hop-by-hop not first
    UNKNOWN_OPTION = 15  # RFC 8200 section 4.2: an option whose type's top two bits say discard
    ROUTING_HEADER = 16  # RFC 8200 section 4.4: segments left with a routing type this host lacks
    # Python only (UDP is not a hot path; no C code returns these).
    BAD_UDP = 17  # RFC 768: shorter than its header, or its length field below 8 or past the data
    BAD_UDP_CHECKSUM = 18  # RFC 768 checksum over the pseudo-header; RFC 8200 section 8.1: required in IPv6

    @property
    def label(self) -> str:
        """Lowercase name, usable as a counter name (`bad_tcp_checksum`)."""
        return self.name.lower()


class WireError(ValueError):
    """A received packet is malformed; `reason` says how."""

    def __init__(self, reason: DropReason, detail: str = "") -> None:
        self.reason = DropReason(reason)
        message = self.reason.label.replace("_", " ")
        super().__init__(f"{message}: {detail}" if detail else message)
