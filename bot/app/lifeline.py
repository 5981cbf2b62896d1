"""Child processes end with the process that started them, however it ends.

`tawasul serve --processes N` starts N-1 more web processes (and maybe a worker), and the
worker forks rq's scheduler. When the parent stops cleanly it stops them; when it is killed
(SIGKILL, the OOM killer) nothing would, and they would serve on, orphaned, forever. So each
child asks the kernel for SIGTERM when its parent dies (Linux's PR_SET_PDEATHSIG, which lasts
across exec) and, where that does not exist, watches its parent's pid the way gunicorn's
workers do. SIGTERM, not SIGKILL: the child still finishes what it has in hand.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading

log = logging.getLogger(__name__)

PARENT_ENV = "TAWASUL_PARENT_PID"  # set by a parent for the children it starts
PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 1.0


def child_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child process of this one, telling it whom to outlive never."""
    return {**env, PARENT_ENV: str(os.getpid())}


def follow_parent_from_env() -> None:
    """In a child started with child_env(): end when that parent ends. The variable is
    dropped, so what this process starts in turn follows this process, not its parent."""
    parent = os.environ.pop(PARENT_ENV, "")
    if parent.isdigit():
        follow_parent(int(parent))


def follow_parent(parent: int) -> None:
    """SIGTERM this process when `parent` (its parent now) dies; at once if it already has."""
    if not _ask_kernel() and parent != 1:
        threading.Thread(target=_watch, args=(parent,), name="lifeline", daemon=True).start()
    if os.getppid() != parent:  # died before the kernel was asked: nothing would tell us
        log.warning("the parent process %s is gone; stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)


def follow_parent_in_forks() -> None:
    """Every fork of this process from now on (rq's scheduler) follows this process."""
    os.register_at_fork(after_in_child=lambda: follow_parent(os.getppid()))


def _ask_kernel() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    """The fallback: look at the parent's pid every second (gunicorn's workers do this)."""
    while os.getppid() == parent:
        threading.Event().wait(WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
