"""The runner's reading of `tc qdisc` lines for minitcp's link (conformance/qdisc.py)."""

from __future__ import annotations

import pytest

from minitcp.conformance.qdisc import root_drops_all


@pytest.mark.parametrize(("line", "verdict"), [
    # user_timeout/user-timeout-probe.pkt: a queue with no room drops every packet.
    ("tc qdisc delete dev tun0 root 2>/dev/null ; tc qdisc add dev tun0 root pfifo limit 0", True),
    ("tc qdisc add dev tun0 root pfifo", False),  # the referee's defaults.sh
    ("tc qdisc replace dev tun0 root bfifo limit 1500", False),
    ("tc qdisc del dev tun0 root", False),
    ("tc qdisc add dev tun0 root fq", None),  # a qdisc minitcp does not model
    ("tc qdisc add dev tun0 root pfifo limit 0; rm -rf /tmp/x", None),  # not only tc qdisc
    ("ethtool -K tun0 tso off", None),
])
def test_root_drops_all(line: str, verdict: bool | None) -> None:
    assert root_drops_all(line) is verdict
