"""Labs: one small experiment per question of the teaching text, each ending in a verdict.

`minitcp lab list` names them, `minitcp lab NAME [--sim]` runs one (see cli.py).
"""

from .base import Check, Lab, LabOptions, Result
from .registry import LABS, get
from .runner import run_lab

__all__ = ["LABS", "Check", "Lab", "LabOptions", "Result", "get", "run_lab"]
