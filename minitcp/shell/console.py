"""Lines printed while a prompt may be showing: each above the prompt, which is drawn again after it.

The prompt runs in its own thread (prompt.py) and the stack in Trio's: a packet can
arrive while the learner is typing. `say` then clears the prompt's line, prints the
line, and draws the prompt again with what was typed so far (readline's buffer), as
a shell does when a background job reports. While a command runs there is no
prompt on screen, and lines are printed as they are.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

try:
    import readline
except ImportError:  # pragma: no cover - a Python built without readline: no buffer to redraw
    readline = None  # type: ignore[assignment]

CLEAR_LINE = "\r\x1b[K"  # back to column 0, erase to the end of the line (ECMA-48 EL)


class Console:
    def __init__(self, prompt: str, file: TextIO | None = None) -> None:
        self.prompt = prompt
        self.file = file or sys.stdout
        self.prompting = False  # the prompt thread is (about to be) waiting in input()
        self._lock = threading.Lock()

    def say(self, line: str) -> None:
        with self._lock:
            if self.prompting:
                typed = readline.get_line_buffer() if readline is not None else ""
                self.file.write(f"{CLEAR_LINE}{line}\n{self.prompt}{typed}")
            else:
                self.file.write(line + "\n")
            self.file.flush()
