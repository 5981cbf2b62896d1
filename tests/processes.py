"""Real processes a test starts, kills and restarts itself: a redis-server of its own on a
free port, and `tawasul serve` / `tawasul worker` over one database, as an operator runs them.

The shared Redis of the other tests is never stopped; what a test does to its own server
(SIGSTOP, SIGKILL, a restart that comes back empty) touches nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import redis

from tests import spawned
from tests.conftest import PROFILE, ROOT, SECRET_KEY, _free_port, _wait_for

CLI = [sys.executable, "-m", "bot.app.cli"]


class RedisServer:
    """A redis-server that keeps nothing on disk, so a restart comes back empty."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        options = ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = spawned.start(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with suppress(redis.RedisError):
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Gone at once, with everything it held."""
        if self.process is not None:
            spawned.kill(self.process)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory).start()
    try:
        yield server
    finally:
        server.kill()


class Gateway:
    """`tawasul serve` and `tawasul worker` over one SQLite database, each started, killed
    and started again by the test."""

    def __init__(self, directory: Path, redis_url: str, extra_env: dict[str, str]) -> None:
        self.var_dir = directory / "var"
        self.database_url = f"sqlite:///{self.var_dir / 'tawasul.db'}"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TAWASUL_VAR_DIR": str(self.var_dir),
            "TAWASUL_DATABASE_URL": self.database_url,
            "TAWASUL_REDIS_URL": redis_url,
            "TAWASUL_SECRET_KEY": SECRET_KEY,
            "TAWASUL_PROFILE": str(PROFILE),
            "TAWASUL_PUBLIC_URL": self.url,
            "TAWASUL_QUEUE": f"test-{uuid.uuid4().hex[:8]}",
            **extra_env,
        }
        self.logs = self.var_dir / "logs"
        self.serve: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []
        subprocess.run([*CLI, "migrate"], env=self.env, check=True, cwd=ROOT, capture_output=True)
        self.logs.mkdir(parents=True, exist_ok=True)

    def _start(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        self._files.append(log)
        return spawned.start(
            [*CLI, *args],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_serve(self, processes: int = 1, worker: bool = False) -> None:
        """`worker`: serve starts one alongside, as its child."""
        options = ["--processes", str(processes)] if processes > 1 else []
        options.append("--worker" if worker else "--no-worker")
        self.serve = self._start("serve", "serve", "--port", str(self.port), *options)
        _wait_for(self.url, self.serve, self.logs / "serve.log")

    def kill_serve(self) -> None:
        """SIGKILL, every web process of it: no cleanup, no answer to the requests in flight."""
        assert self.serve is not None
        spawned.kill(self.serve)
        self.serve = None

    def start_worker(self, env: dict[str, str] | None = None) -> None:
        """`env` changes the worker's settings only (another var directory, as on another
        host)."""
        self.worker = self._start("worker", "worker", env=env)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        """Serve and worker, with all they started (rq's scheduler, more web processes)."""
        spawned.stop(self.serve, self.worker)
        for file in self._files:
            file.close()


@contextmanager
def gateway(directory: Path, redis_url: str, extra_env: dict[str, str]) -> Iterator[Gateway]:
    live = Gateway(directory, redis_url, extra_env)
    try:
        yield live
    finally:
        live.stop()
