"""The two implementations of the TCP packet formats that wire tests run each check against: the
pure-Python twin and the C extension (its runs skipped, saying why, where it is not built)."""

from __future__ import annotations

import pytest

from minitcp.wire import tcp_pure

try:
    from minitcp.wire import tcp_native
except ImportError:
    tcp_native = None

needs_native = pytest.mark.skipif(tcp_native is None,
                                  reason="minitcp._native is not built (pip install -e .)")
IMPLS = [pytest.param(tcp_pure, id="pure"), pytest.param(tcp_native, id="native", marks=needs_native)]
