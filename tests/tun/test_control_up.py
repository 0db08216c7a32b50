"""`minitcp up` with --pcap, --sysctl, --fault and its control socket, as a learner would use them."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import trio

from minitcp.control import request
from tests.helpers.process import HANG_GUARD, interrupt, read_until

ADDR = "198.18.0.9"
CLI = [sys.executable, "-m", "minitcp.cli"]


async def _cli(*args: str) -> str:
    done = await trio.run_process([*CLI, *args], capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


async def _stop(proc: trio.Process, stdout: bytearray) -> None:
    """Ctrl-C: minitcp says it stopped (the device removed) within 2 s, then the process exits 0."""
    await interrupt(proc, stdout, b" removed", within=2)
    assert proc.returncode == 0


def _http_close(addr: str) -> int:
    """A GET with `Connection: close`: minitcp closes first, so its end goes to TIME-WAIT."""
    with socket.create_connection((addr, 80), timeout=5) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n".encode())
        while sock.recv(65536):
            pass
        return sock.getsockname()[1]


def _hang_up(sock: socket.socket) -> None:
    """The kernel client's FIN, then the echo server's: the kernel's end is in TIME_WAIT, nothing
    of it left to send."""
    sock.shutdown(socket.SHUT_WR)
    assert sock.recv(1) == b""


async def test_ss_stat_knobs_and_pcap_of_a_running_stack(tun_name: str, tmp_path: Path) -> None:
    control, pcap = str(tmp_path / "ctl.sock"), tmp_path / "up.pcap"
    command = [*CLI, "up", "--dev", tun_name, "--addr", ADDR, "--echo", "7", "--http", "80",
               "--sysctl", "net.ipv4.tcp_fin_timeout=5", "--pcap", str(pcap), "--control", control]
    proc = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    stdout = bytearray()
    held = None
    try:
        # A guard against a hang, not a measure: this starts five Python processes (the stack
        # and four `minitcp` commands), 1.5 s of CPU each, 4 to 6 s apiece on a loaded machine.
        with trio.fail_after(HANG_GUARD + 30):
            await read_until(proc.stdout, b"control socket", stdout)
            assert os.stat(control).st_mode & 0o777 == 0o600
            ping = await trio.run_process(["ping", "-c", "3", "-i", "0.2", "-W", "1", ADDR],
                                          capture_stdout=True, check=False)
            assert ping.returncode == 0, ping.stdout

            # A kernel client holds an echo connection open while we look.
            held = await trio.to_thread.run_sync(lambda: socket.create_connection((ADDR, 7), timeout=5))
            kport = held.getsockname()[1]
            table = await _cli("ss", "--control", control)
            lines = table.splitlines()
            assert lines[0].split()[:2] == ["State", "Recv-Q"]
            # The servers take both families: a dual-stack socket, `*:port` as Linux's ss shows it.
            assert any(line.split()[0] == "LISTEN" and "*:7" in line for line in lines), table
            assert any(line.split()[0] == "LISTEN" and "*:80" in line for line in lines), table
            assert any(line.split()[0] == "ESTAB" and f"{ADDR}:7" in line and f"198.18.0.1:{kport}" in line
                       for line in lines), table

            closed_at = trio.current_time()  # before the close: TIME_WAIT began after this
            hport = await trio.to_thread.run_sync(_http_close, ADDR)
            while True:  # the kernel's FIN is on its way to the stack's process
                rows = (await trio.to_thread.run_sync(request, control, "ss"))["rows"]
                timewait = [r for r in rows
                            if r["state"] == "TIME-WAIT" and r["peer"] == f"198.18.0.1:{hport}"]
                if timewait:
                    break
                await trio.sleep(0.02)
            assert timewait[0]["timer"].startswith("timer:(timewait,"), rows
            table = await _cli("ss", "--control", control)
            # A fresh TIME_WAIT: 60 s less the time since the close, which includes starting the
            # `minitcp ss` process (seconds on a busy machine; ss prints whole seconds, rounded down).
            since = trio.current_time() - closed_at
            left = [60 if m[1] else float(m[2]) for line in table.splitlines() if line.startswith("TIME-WAIT")
                    and (m := re.search(r"timer:\(timewait,(?:(1min)|([\d.]+)sec),0\)", line))]
            assert len(left) == 1 and 60 - since - 1 <= left[0] <= 60, (since, table)

            stats = json.loads(await _cli("stat", "--json", "--control", control))
            assert stats["tcp"]["InSegs"] > 0 and stats["tcp"]["PassiveOpens"] == 2
            assert stats["icmp"]["InEchos"] == 3
            nstat = await _cli("stat", "--control", control)
            assert nstat.splitlines()[0] == "#minitcp"
            assert any(line.split() == ["IcmpInEchos", "3"] for line in nstat.splitlines()), nstat
            assert "TcpOutSegs" in nstat and "TcpExtTCPAbortOnClose" not in nstat  # zeros hidden

            knobs = (await trio.to_thread.run_sync(request, control, "knobs"))["knobs"]
            assert knobs["tcp_fin_timeout"] == 5.0 and knobs["tcp_timewait_len"] == 60.0
            # The held connection ends before the stack does. Closed after it, the kernel's FIN went
            # unanswered and was sent again (0.2, 0.6, 1.4 s ... later) to the next test's stack at
            # this address, whose RST for it was the first packet out: the fault test's rule
            # dropped that instead of its first ping reply (once at load 7, 3 replies came).
            await trio.to_thread.run_sync(_hang_up, held)
        await _stop(proc, stdout)
    finally:
        if held is not None:
            held.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert not os.path.exists(control)  # removed on exit
    done = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"198.18.0.1 > {ADDR}: ICMP echo request") == 3, done.stdout
    assert done.stdout.count(f"{ADDR} > 198.18.0.1: ICMP echo reply") == 3, done.stdout
    assert f"{ADDR}.80 > 198.18.0.1.{hport}: Flags [F.]" in done.stdout


async def test_fault_drops_the_first_ping_reply_and_the_trace_says_so(
    tun_name: str, tmp_path: Path
) -> None:
    control = str(tmp_path / "ctl.sock")
    command = [*CLI, "up", "--dev", tun_name, "--addr", ADDR, "-v", "--fault", "drop:dir=out,nth=1",
               "--control", control]
    proc = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    stdout = bytearray()
    try:
        with trio.fail_after(60):  # a hang guard: the stack's Python start-up alone takes 4-6 s at load 7
            await read_until(proc.stdout, b"control socket", stdout)
            ping = await trio.run_process(["ping", "-c", "3", "-i", "0.2", "-W", "1", ADDR],
                                          capture_stdout=True, check=False)
            out = ping.stdout.decode()
            assert "3 packets transmitted, 2 received" in out, out
            await read_until(proc.stdout, b"seq 3, length", stdout)
        await _stop(proc, stdout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = stdout.decode()
    [fault] = [line for line in text.splitlines() if line.startswith("FAULT")]
    assert fault.startswith("FAULT drop out ")
    assert f"IP {ADDR} > 198.18.0.1: ICMP echo reply, id " in fault and ", seq 1, length 64" in fault
    # The stack answered all three; the trace shows the lost reply too, then says what became of it.
    assert text.count(f"IP {ADDR} > 198.18.0.1: ICMP echo reply") == 4
