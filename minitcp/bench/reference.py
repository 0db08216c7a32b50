"""Workload groups `kernel` and `hotpath`: the yardsticks the stack's rows are read against.

`kernel` is bulk, connections and echo between two kernel sockets over
loopback; `hotpath` the C hot paths against their pure-Python twins
(minitcp.bench.hotpath).
"""

from __future__ import annotations

import contextlib

from .clients import kclient, kclient_cmd, line_process
from .results import MB
from .roundtrips import RoundTrips


class Reference(RoundTrips):
    """The `kernel_*` rows and the `hotpath_*` extras."""

    # ------------------------------------------------------------------ 7. kernel reference

    # The kernel's echo rows are the stack's echo workload (RoundTrips.echo) against a kernel server.
    async def kernel(self) -> None:
        p = self.plan
        host = "127.0.0.1"
        per_rep = max(p.kernel_bulk_bytes // p.reps, 1)
        up, down = self.row("kernel_bulk_MBps", "MB/s"), self.row("kernel_bulk_out_MBps", "MB/s")
        conn = self.row("kernel_conn_per_s", "conn/s")
        servers = {"discard": 9009, "http": 8080, "echo": 7007}
        try:
            async with contextlib.AsyncExitStack() as es:
                for kind, port in servers.items():
                    cmd = kclient_cmd("serve", server=True, kind=kind, host=host, port=port, seconds=600)
                    proc = await es.enter_async_context(line_process(cmd, limit=10))
                    es.push_async_callback(proc.tell)  # a line on stdin stops it
                    await proc.line(limit=20)
                for _ in range(p.reps):
                    r = await kclient("upload", limit=120, host=host, port=9009, bytes=per_rep,
                                      seconds=100)
                    up.add(r["bytes"] / r["seconds"] / MB, "! timed out" if r["timeout"] else "")
                    r = await kclient("download", limit=120, host=host, port=8080,
                                      bytes=per_rep, seconds=100)
                    down.add(r["bytes"] / r["seconds"] / MB, "" if r["ok"] else "! download incomplete")
                    r = await kclient("connrate", limit=90, host=host, port=7007,
                                      count=max(p.conns // p.reps, 1),
                                      concurrency=p.conn_concurrency, seconds=60)
                    conn.add(r["done"] / r["seconds"], f"! {r['errors']} failed" if r["errors"] else "")
                self.log(f"  kernel loopback: bulk {up.median or 0:.0f} MB/s in, "
                         f"{down.median or 0:.0f} MB/s out, {conn.median or 0:.0f} conn/s")
                await self.echo(host=host, prefix="kernel_echo", port=7007)
        except Exception as e:
            self.fail([up.key, down.key, conn.key, "kernel_echo_p50_us"], "", e)

    # ------------------------------------------------------------------ 8. hot paths

    def hotpath(self) -> None:
        from . import hotpath

        result = hotpath.run(quick=self.quick)
        for r in result["rows"]:
            base = f"hotpath_{r['op']}_{r['payload']}"
            for field in ("c_ns", "pure_ns", "ratio"):
                if r[field] is not None:
                    self.extras[f"{base}_{field}"] = r[field]
        for size, ns in result["raw_c_parse_ns"].items():
            self.extras[f"hotpath_raw_c_parse_{size}_ns"] = ns
        t = result["target"]
        self.extras["hotpath_parse_target_met"] = bool(t["ratio_met"] and t["latency_met"])
