"""`minitcp demo --sim`, and `minitcp demo` falling back to it where there is no TUN to be had."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from minitcp import demo
from minitcp.link.tun import LinkError
from minitcp.netns import NetnsError

NOTICE = "minitcp demo: no TUN access here ("


def _check_story(out: str) -> None:
    assert "FAILED" not in out and "✗" not in out
    assert "demo --sim passed" in out
    assert "Flags [R.], seq 0, ack " in out  # the closed port
    # minitcp is the server, the peer stack the client (where the kernel stands in the TUN demo)
    assert "minitcp 198.18.0.2.7: LAST-ACK -> CLOSED" in out  # echo: the client closed first
    assert "peer 198.18.0.1." in out and ": FIN-WAIT-2 -> TIME-WAIT" in out
    assert "minitcp 198.18.0.2.80: FIN-WAIT-2 -> TIME-WAIT" in out  # HTTP: the server closed first
    assert "minitcp 198.18.0.2.80: TIME-WAIT -> CLOSED" in out  # 60 virtual seconds later
    assert "timer:(timewait,59sec,0)" in out  # the ss tables


def test_demo_sim_exits_0_and_tells_the_story() -> None:
    # Virtual time: the story includes 60 s of TIME-WAIT ending (_check_story), inside a 30 s
    # timeout; no wall-clock bound beyond that, which a loaded machine would break.
    done = subprocess.run([sys.executable, "-m", "minitcp.cli", "demo", "--sim"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert NOTICE not in done.stdout  # asked for, so no notice
    _check_story(done.stdout)


def test_demo_falls_back_when_forced_with_the_env_var() -> None:
    env = {**os.environ, demo.FORCE_ENV: "1"}
    done = subprocess.run([sys.executable, "-m", "minitcp.cli", "demo"], capture_output=True, text=True,
                          timeout=30, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    first, *_ = done.stdout.splitlines()
    assert first.startswith(NOTICE + "MINITCP_DEMO_SIM is set); running the same demo simulated")
    _check_story(done.stdout)


def test_no_dev_net_tun_means_the_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(demo.FORCE_ENV, raising=False)
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: False if p == "/dev/net/tun" else real_exists(p))
    assert demo.tun_problem() == "no /dev/net/tun"


@pytest.mark.parametrize("where", ["netns", "tun"])
def test_demo_falls_back_when_the_namespace_or_the_device_is_refused(
    where: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "tun_problem", lambda: None)  # /dev/net/tun seems to be there...
    if where == "netns":  # ...but neither root nor user namespaces let us have a namespace
        monkeypatch.setattr(demo, "in_private_netns", lambda: False)

        def refuse() -> None:
            raise NetnsError("cannot create a private network namespace: unshare: Operation not permitted")

        monkeypatch.setattr(demo, "enter_private_netns", refuse)
    else:  # ...and we are in a namespace already, but the device may not be opened
        monkeypatch.setattr(demo, "in_private_netns", lambda: True)

        def no_device(*args: object, **kwargs: object) -> None:
            raise LinkError("cannot open /dev/net/tun: Permission denied")

        monkeypatch.setattr(demo, "TunLink", no_device)
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(NOTICE)
    assert ("Operation not permitted" if where == "netns" else "Permission denied") in out.splitlines()[0]
    _check_story(out)
