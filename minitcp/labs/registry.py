"""Every lab, in the order of the teaching text."""

from __future__ import annotations

from . import close, closing, delack, loss, recovery, synflood, timewait
from .base import Lab

MODULES = (close, loss, timewait, closing, delack, synflood, recovery)
LABS: dict[str, Lab] = {lab.name: lab for module in MODULES for lab in module.LABS}


def get(name: str) -> Lab:
    try:
        return LABS[name]
    except KeyError:
        raise KeyError(f"no lab {name!r}; `minitcp lab list` names them") from None
