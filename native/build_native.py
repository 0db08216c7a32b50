"""cffi build script for `minitcp._native` (API, out-of-line mode).

setuptools runs it from the project root through `cffi_modules` in setup.py,
so paths are relative to that root (setuptools rejects absolute source paths
in some versions).
"""

from __future__ import annotations

from pathlib import Path

from cffi import FFI

ffibuilder = FFI()
HERE = Path(__file__).resolve().parent
ffibuilder.cdef((HERE / "minitcp_native.h").read_text())
ffibuilder.cdef((HERE / "minitcp_uring.h").read_text())  # the TUN device's io_uring batches
ffibuilder.set_source(
    "minitcp._native",
    '#include <stddef.h>\n#include <stdint.h>\n#include "minitcp_native.h"\n#include "minitcp_uring.h"\n',
    sources=["native/minitcp_native.c", "native/minitcp_uring.c"],
    include_dirs=["native"],
    extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra"],
)
