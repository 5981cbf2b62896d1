"""The processes a test run starts (`tawasul serve`, `tawasul worker`, a redis-server), each
at the head of a process group of its own, stopped as a whole group: what it started in turn
(more web processes, rq's scheduler) goes with it, even when the test killed only its head.

At the end of the run, `leftovers()` says what is still running of them, or of any
`bot.app.cli` process whose settings point under this run's temporary folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

_groups: set[int] = set()  # the process groups this run started (their heads' pids)


def start(args: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """subprocess.Popen, in a new session (so a process group) of its own."""
    process: subprocess.Popen[bytes] = subprocess.Popen(args, start_new_session=True, **options)
    _groups.add(process.pid)
    return process


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """`signum` to every process of the group `process` heads, even after its head died."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop(*processes: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    """SIGTERM each group, then wait for all of it to end; SIGKILL what has not in `timeout`
    seconds (a group may have been frozen with SIGSTOP: it is thawed first)."""
    started = [process for process in processes if process is not None]
    for process in started:
        signal_group(process, signal.SIGCONT)
        signal_group(process, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)
            process.wait(timeout=timeout)
        if not wait_until_gone([process.pid], timeout):
            signal_group(process, signal.SIGKILL)
            wait_until_gone([process.pid], timeout)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole group at once: no clean-up anywhere in it."""
    signal_group(process, signal.SIGCONT)
    signal_group(process, signal.SIGKILL)
    process.wait(timeout=10)
    wait_until_gone([process.pid], 10)


def _stat(pid: str) -> tuple[int, int, str] | None:
    """(parent pid, process group, state) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, parent, group = text.rpartition(")")[2].split()[:3]
    return int(parent), int(group), state


def members(groups: Iterable[int]) -> list[int]:
    """Live (not zombie) processes of these process groups."""
    wanted = set(groups)
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        stat = _stat(entry.name)
        if stat is not None and stat[1] in wanted and stat[2] != "Z":
            found.append(int(entry.name))
    return found


def wait_until_gone(groups: Iterable[int], timeout: float) -> bool:
    """Whether every process of these groups ended within `timeout` seconds."""
    wanted = list(groups)
    deadline = time.monotonic() + timeout
    while members(wanted):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _ours(pid: int, tmp: str) -> bool:
    """A `bot.app.cli` process whose environment points under `tmp` (this run's folder)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return b"bot.app.cli" in cmdline and (tmp.rstrip("/") + "/").encode() in environ


def leftovers(tmp: Path, timeout: float = 15) -> list[str]:
    """What this run started and is still running after `timeout` seconds (each as
    "pid: command line"); each is killed, so nothing outlives the run."""
    deadline = time.monotonic() + timeout
    while True:
        pids = set(members(_groups))
        for entry in Path("/proc").glob("[0-9]*"):
            stat = _stat(entry.name)
            if stat is not None and stat[2] != "Z" and _ours(int(entry.name), str(tmp)):
                pids.add(int(entry.name))
        pids.discard(os.getpid())
        if not pids or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    found = []
    for pid in sorted(pids):
        with suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            found.append(f"{pid}: {command.decode(errors='replace').strip()}")
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return found
