"""A lab against the Linux kernel in the browser's terms: the kernel says through its tracepoints
that it retransmitted, not what, so the next segment it sent is the retransmission, and the
stepped page asks about it with the kernel named (docs/web-events.md, minitcp/web/lab.py)."""

from __future__ import annotations

from minitcp.labs.registry import get
from minitcp.labs.runner import run_lab
from minitcp.web.lab import lab_settings


def test_the_kernel_retransmitted_fin_gets_its_question() -> None:
    result = run_lab(get("server-fin-lost"), sim=False)
    assert result.passed, ([c.what for c in result.checks if not c.ok], result.error)
    settings = lab_settings(result)
    events = settings["events"]
    kernel = next(e["host"] for e in events if e["host"] != "minitcp")
    fins = [e for e in events if e["kind"] == "segment" and e["host"] == "minitcp" and e["dir"] == "in"
            and e["flags"] == "F."]
    (lost,) = [e for e in events if e["kind"] == "fault" and e["flags"] == "F."]
    assert lost["seg"] is None and lost["action"] == "drop"  # dropped on its way in: never seen
    (arrived,) = fins
    question = next(q for q in settings["questions"] if q["before"] == arrived["id"])
    right = question["choices"][question["answer"]]["en"]
    assert right.startswith(f"{kernel} sends FIN seq=1 ack=2 (retransmission) ")
    assert right.endswith(" ms later, in LAST_ACK")
