"""The referee's pure parts: the defaults.sh it writes, its workspace, address and cookie mapping,
what it refuses to run, how it reads packetdrill's errors, and its per-folder report."""

from __future__ import annotations

from pathlib import Path

from minitcp.conformance.fastopen_cookie import fastopen_cookie
from minitcp.conformance.freebsd_commands import linux_commands, preprocessed
from minitcp.conformance.packetdrill_common import RUN_ALL_DEFINES6, defaults_script, prepare_workspace
from minitcp.conformance.referee import (
    PACKETDRILL_ARGS6,
    TFO_COOKIE,
    first_error,
    freebsd_script,
    host_writes,
    ipv6_script,
    map_addresses,
    namespace_setup,
    refusal,
    unchecked_buffer_sizes,
)
from minitcp.conformance.referee_report import RefereeReport
from minitcp.conformance.report import Result

KEY = "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4"


def test_fastopen_cookie_is_the_kernels() -> None:
    # run_all.py's TFO_COOKIE, which Linux gives 192.0.2.1 talking to 192.168.0.1 with this key.
    assert fastopen_cookie("192.0.2.1", "192.168.0.1", KEY) == "3021b9d889017eeb"
    assert fastopen_cookie("198.18.0.2", "198.18.0.1", KEY) == TFO_COOKIE


def test_addresses_and_cookie_move_into_the_test_range() -> None:
    line = "ip route change 192.0.2.1 via 192.168.0.2 dev tun0 <FO 3021b9d889017eeb,nop> 192.168.0.21"
    moved = f"ip route change 198.18.0.2 via 198.18.0.3 dev tun0 <FO {TFO_COOKIE},nop> 192.168.0.21"
    assert map_addresses(line) == moved


def test_fastopen_cookie_over_ipv6_is_the_kernels() -> None:
    # run_all.py's IPv6 TFO_COOKIE, which Linux gives fd3d:fa7b:d17d::1 talking to fd3d:0a0b:17d6::1.
    assert fastopen_cookie("fd3d:fa7b:d17d::1", "fd3d:0a0b:17d6::1", KEY) == "c1d1e9742a47a9bc"
    assert fastopen_cookie("2001:2::2", "2001:2::1", KEY) == dict(RUN_ALL_DEFINES6)["TFO_COOKIE"]


def test_ipv6_addresses_move_into_the_test_range() -> None:
    # mtu_probe/basic-v6.pkt names packetdrill's default remote host and gateway.
    line = "ip -6 route change 2001:DB8::1 via fd3d:fa7b:d17d:8888::0 dev tun0 advmss 600"
    assert map_addresses(line) == "ip -6 route change 2001:2::2 via 2001:2::3 dev tun0 advmss 600"
    assert map_addresses("2001:db8::10 fd3d:fa7b:d17d::1") == "2001:db8::10 2001:2::2"


def test_ipv6_scripts_run_over_ipv6_in_the_test_range() -> None:
    assert ipv6_script(Path("a.pkt"), "// x\n--ip_version=ipv6\n")
    assert ipv6_script(Path("basic-v6.pkt"), "")
    assert not ipv6_script(Path("basic-v4.pkt"), "--ip_version=ipv4\n")
    assert "--ip_version=ipv6" in PACKETDRILL_ARGS6 and "--local_ip=2001:2::1" in PACKETDRILL_ARGS6
    assert "--remote_ip=2001:2::2" in PACKETDRILL_ARGS6 and "--gateway_ip=2001:2::3" in PACKETDRILL_ARGS6


def test_defaults_script_sets_the_sysctls_then_the_qdisc() -> None:
    text = defaults_script()
    assert "sysctl -q net.ipv4.tcp_congestion_control=cubic" in text
    assert "net.ipv4.tcp_rmem='4096 540000 15728640'" in text
    assert text.rstrip().endswith("tc qdisc add dev tun0 root pfifo")


def test_workspace_resolves_common_from_every_depth(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    (suite / "common").mkdir(parents=True)
    (suite / "common" / "set_sysctls.py").write_text("")
    workdir = prepare_workspace(tmp_path / "ws", suite)
    for up in ("..", "../..", "../../.."):
        assert (workdir / up / "common" / "defaults.sh").read_text() == defaults_script()
        assert (workdir / up / "common" / "set_sysctls.py").exists()


def test_host_wide_writes_are_shadowed_or_refused() -> None:
    text = "`echo 3 > /sys/module/tcp_cubic/parameters/hystart_detect`\n"
    assert host_writes(text) == ["/sys/module/tcp_cubic/parameters/hystart_detect"]
    setup = namespace_setup(host_writes(text))
    assert "mount -o remount,bind,ro /sys" in setup
    assert "mount --bind /tmp/referee-sys0 /sys/module/tcp_cubic/parameters/hystart_detect" in setup
    assert refusal(Path("a.pkt"), "`sysctl -q kernel.hz=1000`") is not None
    assert refusal(Path("a.pkt"), "`echo 1 > /proc/sys/vm/overcommit_memory`") is not None
    assert refusal(Path("a.pkt"), "`sysctl -q net.ipv4.tcp_ecn=1`") is None
    assert refusal(Path("basic-v6.pkt"), "") is None  # run over IPv6


def test_first_error_keeps_the_line_and_the_packets() -> None:
    err = ("/x/y/close.pkt:20: error handling packet: timing error: expected outbound packet at 0.010 sec\n"
           "script packet:  0.010 . 1:1(0) ack 2\nactual packet:  0.015 . 1:1(0) ack 2 win 1050\n")
    assert first_error(err, "", 1) == ("close.pkt:20: error handling packet: timing error: expected outbound "
                                       "packet at 0.010 sec; script packet:  0.010 . 1:1(0) ack 2; actual "
                                       "packet:  0.015 . 1:1(0) ack 2 win 1050")
    python = "Error: qdisc\n/a/b.pkt:51: error in Python code\nTraceback\n  File x\nAssertionError: 36\n"
    expected = "b.pkt:51: error in Python code; AssertionError: 36; after: Error: qdisc"
    assert first_error(python, "", 1) == expected
    assert first_error("", "", 3) == "packetdrill exited with status 3"


def test_report_counts_per_folder_and_names_kernel_only_passes() -> None:
    kernel = [Result("p", "a/x.pkt", True, None), Result("p", "a/y.pkt", False, "k"),
              Result("p", "b/z.pkt", True, None)]
    minitcp = [Result("p", "a/x.pkt", True, None), Result("p", "a/y.pkt", False, "m"),
               Result("p", "b/z.pkt", False, "line 3: late")]
    report = RefereeReport(kernel, {"minitcp": minitcp})
    # y.pkt: both fail, but not with the same thing seen: the same verdict, no strict agreement.
    assert report.folders() == {"a": {"scripts": 2, "kernel": 1, "minitcp": 1, "minitcp agrees": 2,
                                      "minitcp strict": 1},
                                "b": {"scripts": 1, "kernel": 1, "minitcp": 0, "minitcp agrees": 0,
                                      "minitcp strict": 0}}
    assert report.kernel_only("minitcp") == [("b/z.pkt", "line 3: late")]
    assert not report.ok
    assert "b/z.pkt: line 3: late" in report.format_text()
    assert report.as_dict()["totals"]["kernel"] == 2


def test_freebsd_scripts_are_made_runnable_by_linux_packetdrill_as_the_runner_reads_them() -> None:
    text = ("+0 `sysctl -w net.inet.tcp.sack.enable=0`\n+0 `sysctl -w net.inet.tcp.recvspace=65536`\n"
            "+0 `sysctl -w net.inet.tcp.insecure_rst=1`\n#ifdef STANDARD\n+0 close(3) = 0\n#else\n"
            "+0 close(4) = 0\n#endif\n")
    lines = linux_commands(preprocessed(text)).splitlines()
    assert lines[0] == "+0 `echo 0 > /proc/sys/net/ipv4/tcp_sack`"
    assert lines[1] == ('+0 `set -- $(cat /proc/sys/net/ipv4/tcp_rmem) && '
                        'echo "$1 131072 $3" > /proc/sys/net/ipv4/tcp_rmem`')
    assert lines[2] == "+0 `true`"  # Linux has no such switch: the runner's kernel target ignores it too
    assert lines[3:] == ["", "+0 close(3) = 0", "", "", ""]  # every line keeps its number
    assert freebsd_script(text) and not freebsd_script("`../common/defaults.sh`\n")
    buffer = "+0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65536], [4]) = 0"
    assert unchecked_buffer_sizes(buffer) == "+0 getsockopt(3, SOL_SOCKET, SO_TYPE, [SOCK_STREAM], [4]) = 0"
