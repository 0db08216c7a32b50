"""Where `../shared` is: the test data and tools beside the repository, read at run time."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared"
FREEBSD_SUITE = str(SHARED / "conformance" / "freebsd-tcp-testsuite")
FREEBSD_SUITE_IPV6 = str(SHARED / "conformance" / "freebsd-tcp-testsuite-ipv6")
LINUX_SUITE = str(SHARED / "conformance" / "linux-packetdrill")
