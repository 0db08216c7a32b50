"""Linux's packetdrill scripts over IPv6 too (issue #16): `run_paths(..., ip_version="both")` plays
each script not ending in v4.pkt again with --ip_version=ipv6, as google/packetdrill's run_all.py
does, in virtual time against minitcp. Linux's `close/` scripts (read at run time from
../shared) pass over IPv6 as over IPv4, on AF_INET6 sockets in 2001:2::/64, in rows of their own."""

from __future__ import annotations

import os
import socket

import pytest

from minitcp.conformance import ipv6_runs, run_paths
from minitcp.conformance.minitcp_target import MinitcpTarget
from minitcp.sockets.socket import Socket

from ..helpers.shared import LINUX_SUITE

CLOSE = os.path.join(LINUX_SUITE, "close")
pytestmark = pytest.mark.skipif(not os.path.isdir(CLOSE), reason=f"Linux's scripts are not at {CLOSE}")


def test_close_scripts_pass_over_ipv6_as_over_ipv4() -> None:
    report = run_paths([LINUX_SUITE], pattern="close/", ip_version="both")
    v4 = [r for r in report.results if r.ip_version == 4]
    v6 = [r for r in report.results if r.ip_version == 6]
    assert len(v4) >= 3
    assert [r.name for r in v6] == [r.name for r in v4]
    assert all(r.ok for r in v4), [(r.name, r.reason) for r in v4 if not r.ok]
    assert all(r.ok for r in v6), [(r.name, r.reason) for r in v6 if not r.ok]
    assert report.by_folder() == {"close": (len(v4), 0, 0), "close (ipv6)": (len(v6), 0, 0)}


def test_an_ipv6_run_plays_on_af_inet6_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    families: list[tuple[socket.AddressFamily, str]] = []
    make = MinitcpTarget.socket

    def recorded(self: MinitcpTarget) -> Socket:
        families.append((self.family, self.local_ip))
        return make(self)

    monkeypatch.setattr(MinitcpTarget, "socket", recorded)
    report = run_paths([CLOSE], pattern="close-on-syn-sent", ip_version="6")
    assert [(r.ok, r.ip_version) for r in report.results] == [(True, 6)]
    assert families and set(families) == {(socket.AF_INET6, "2001:2::2")}
    families.clear()
    assert run_paths([CLOSE], pattern="close-on-syn-sent").ok
    assert set(families) == {(socket.AF_INET, "198.18.0.2")}


def test_default_and_v4_only_scripts() -> None:
    report = run_paths([CLOSE], ip_version="4")
    assert {r.ip_version for r in report.results} == {4}
    scripts = [("a/x-v4.pkt", "a/x-v4.pkt"), ("a/y.pkt", "a/y.pkt"), ("a/z-v6.pkt", "a/z-v6.pkt")]
    assert ipv6_runs(scripts, "both") == scripts[1:]
    assert ipv6_runs(scripts, "4") == []
    with pytest.raises(ValueError):
        ipv6_runs(scripts, "5")


def test_ipv4_scripts_over_ipv6_keep_ipv4s_mss() -> None:
    # run_all.py plays an IPv4 script over IPv6 at --mtu=1520: MSS 1460 behind the IPv6 header,
    # the segment sizes the script expects (at 1500 minitcp would cut 1440-byte segments).
    report = run_paths([LINUX_SUITE], pattern="fast_retransmit/fr-4pkt.pkt", ip_version="6")
    assert [(r.ok, r.ip_version) for r in report.results] == [(True, 6)], report.results
