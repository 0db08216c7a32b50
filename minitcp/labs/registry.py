"""Every lab, in the order of the teaching text; and a lab of one's own, from a Python file."""

from __future__ import annotations

import importlib.util
import os
import sys

from . import (
    close,
    closing,
    delack,
    duplicate,
    expiry,
    loss,
    memory,
    orphans,
    pmtu,
    recovery,
    remedies,
    synflood,
    timewait,
)
from .base import Lab

MODULES = (close, loss, duplicate, expiry, timewait, remedies, memory, closing, orphans, delack, synflood,
           pmtu, recovery)
LABS: dict[str, Lab] = {lab.name: lab for module in MODULES for lab in module.LABS}


def get(name: str) -> Lab:
    try:
        return LABS[name]
    except KeyError:
        raise KeyError(f"no lab {name!r}; `minitcp lab list` names them") from None


def load_file(path: str) -> Lab:
    """The `LAB` a Python file defines (`minitcp lab my_lab.py`; docs/labs.md says how to write one).

    The file is run as a module of its own, as `python my_lab.py` would run it: only ever a file
    the learner names on the command line.
    """
    name = "minitcp_lab_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise KeyError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    # Known by its name, as an imported module is: a lab run against the kernel sends its result
    # (the Lab, its scenario function by reference) back from a child process through pickle.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    lab = getattr(module, "LAB", None)
    if not isinstance(lab, Lab):
        raise KeyError(f"{path} defines no LAB = Lab(...) (see docs/labs.md)")
    return lab
