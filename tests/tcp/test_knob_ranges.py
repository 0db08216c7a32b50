"""Every knob has Linux's range (issue #17): a value outside it is refused before anything starts,
by `minitcp up --sysctl` (exit 2, sysctl's words) and by the Python API (Knobs, Knobs.set)."""

from __future__ import annotations

import dataclasses

import pytest

from minitcp.cli import main
from minitcp.tcp.knobs import CHOICE_KNOBS, RANGES, KnobRangeError, Knobs


def _refused_by_up(setting: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["up", "--sysctl", setting])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        # It started, then died on its first segment ("TCP/IP field out of range").
        ("net.ipv4.ip_default_ttl=300", '"net.ipv4.ip_default_ttl": Invalid argument (1 to 255, not 300)'),
        ("net.ipv4.ip_default_ttl=0", '"net.ipv4.ip_default_ttl": Invalid argument (1 to 255, not 0)'),
        # Accepted, and then the stack served nothing.
        ("net.ipv4.tcp_rmem=0 0 0",
         '"net.ipv4.tcp_rmem": Invalid argument (each 1 to 2147483647, not 0 0 0)'),
        ("net.ipv4.tcp_wmem=0 0 0",
         '"net.ipv4.tcp_wmem": Invalid argument (each 1 to 2147483647, not 0 0 0)'),
        ("net.ipv4.tcp_max_syn_backlog=0",
         '"net.ipv4.tcp_max_syn_backlog": Invalid argument (1 to 2147483647, not 0)'),
        # Accepted silently.
        ("net.ipv4.ip_local_port_range=70000 80000",
         '"net.ipv4.ip_local_port_range": Invalid argument (each 1 to 65535, not 70000 80000)'),
        ("net.ipv4.ip_local_port_range=50000 40000", "not above the second, not 50000 40000"),
        ("net.ipv4.ip_local_port_range=80 90", "the first at least 1024 (ip_unprivileged_port_start)"),
        ("net.ipv4.tcp_syn_retries=0", '"net.ipv4.tcp_syn_retries": Invalid argument (1 to 127, not 0)'),
        ("net.ipv4.tcp_ecn=3", '"net.ipv4.tcp_ecn": Invalid argument (0 to 2, not 3)'),
        ("net.ipv4.tcp_synack_retries=256", "(0 to 255, not 256)"),
        ("net.core.somaxconn=3000000000", '"net.core.somaxconn": Invalid argument (0 to 2147483647'),
        ("net.ipv4.tcp_fin_timeout=nan", "must be a finite number >= 0"),
        # A name, not a number: Linux's ENOENT for an algorithm it does not have.
        ("net.ipv4.tcp_congestion_control=vegas",
         '"net.ipv4.tcp_congestion_control": No such file or directory (one of: reno cubic, not \'vegas\')'),
    ],
)
def test_up_refuses_a_value_out_of_linux_range_in_sysctls_words(
    setting: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused_by_up(setting, capsys)
    assert line.startswith("minitcp up: error: argument --sysctl: ")
    assert says in line
    if "Invalid argument" in says or "No such file" in says:
        assert 'setting key "' in line


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ip_default_ttl", "1"), ("ip_default_ttl", "255"), ("ip_local_port_range", "1024 65535"),
        ("ip_local_port_range", "40000 40000"), ("tcp_rmem", "1 1 1"), ("tcp_syn_retries", "127"),
        ("tcp_max_syn_backlog", "1"), ("tcp_max_tw_buckets", "0"), ("tcp_ecn", "2"),
    ],
)
def test_the_bounds_themselves_are_accepted(name: str, value: str) -> None:
    knobs = Knobs()
    knobs.set(name, value)
    numbers = tuple(int(v) for v in value.split())
    assert getattr(knobs, name) == (numbers if len(numbers) > 1 else numbers[0])


def test_every_knob_has_a_range_and_its_default_lies_in_it() -> None:
    assert set(RANGES) | CHOICE_KNOBS == {f.name for f in dataclasses.fields(Knobs)}
    Knobs().validate()  # Linux's defaults are in Linux's ranges


def test_the_python_api_refuses_too() -> None:
    with pytest.raises(KnobRangeError) as at_construction:
        Knobs(ip_default_ttl=300)
    assert str(at_construction.value) == (
        'setting key "net.ipv4.ip_default_ttl": Invalid argument (1 to 255, not 300)')
    with pytest.raises(KnobRangeError, match="tcp_rmem"):
        Knobs(tcp_rmem=(0, 0, 0))
    knobs = Knobs()
    with pytest.raises(KnobRangeError) as refused:
        knobs.set("net.ipv4.ip_local_port_range", "70000 80000")
    assert refused.value.name == "ip_local_port_range" and refused.value.value == (70000, 80000)
    assert knobs.ip_local_port_range == (32768, 60999)  # a refused value is not half-applied
    assert isinstance(refused.value, ValueError)  # what callers catching a bad value already catch
    knobs.ip_default_ttl = 0  # set behind set()'s back: validate() still finds it
    with pytest.raises(KnobRangeError, match="ip_default_ttl"):
        knobs.validate()


def test_conformance_knob_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "--knob", "tcp_wmem=0 0 0", "no-such-dir"]) == 2
    err = capsys.readouterr().err
    assert err.startswith('--knob: setting key "net.ipv4.tcp_wmem": Invalid argument')


def test_fragment_and_icmp_knobs_take_their_linux_names_and_pairs() -> None:
    """net.ipv6.* and net.ipv6.icmp.* names reach their knobs; ip_fragment.c's thresholds bound
    each other (the low one at most the high one), so lowering both takes the low one first."""
    knobs = Knobs()
    knobs.set("net.ipv6.ip6frag_time", "10")
    knobs.set("net.ipv6.icmp.ratelimit", "0.25")
    knobs.set("net.ipv4.icmp_msgs_burst", "7")
    assert (knobs.ip6frag_time, knobs.icmpv6_ratelimit, knobs.icmp_msgs_burst) == (10.0, 0.25, 7)
    with pytest.raises(KnobRangeError) as e:
        knobs.set("net.ipv4.ipfrag_high_thresh", 1 << 20)  # below the low threshold, 3 MB
    assert 'setting key "net.ipv4.ipfrag_high_thresh"' in str(e.value)
    assert "at least ipfrag_low_thresh" in str(e.value)
    knobs.set("ipfrag_low_thresh", 1 << 19)
    knobs.set("ipfrag_high_thresh", 1 << 20)
    with pytest.raises(KnobRangeError) as e:
        knobs.set("net.ipv6.ip6frag_low_thresh", 5 << 20)
    assert 'setting key "net.ipv6.ip6frag_low_thresh"' in str(e.value)
    with pytest.raises(KnobRangeError) as e:
        knobs.set("net.ipv6.icmp.ratelimit", -1)
    assert 'setting key "net.ipv6.icmp.ratelimit"' in str(e.value)


def test_the_congestion_control_is_a_name_from_the_available_ones() -> None:
    knobs = Knobs()
    assert knobs.tcp_congestion_control == "cubic" and knobs.tcp_available_congestion_control == "reno cubic"
    knobs.set("net.ipv4.tcp_congestion_control", "reno")
    assert knobs.tcp_congestion_control == "reno"
    with pytest.raises(KnobRangeError) as refused:
        knobs.set("tcp_congestion_control", "bbr")
    assert str(refused.value) == ('setting key "net.ipv4.tcp_congestion_control": No such file or directory '
                                  "(one of: reno cubic, not 'bbr')")
    assert knobs.tcp_congestion_control == "reno"
