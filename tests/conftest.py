"""Shared fixtures: real Redis, SQLite and PostgreSQL, and a live gateway (serve + worker).

Redis is the one at TAWASUL_REDIS_URL (default redis://127.0.0.1:6379/15, a database number
kept for tests and flushed at the start). PostgreSQL tests create a throwaway database on
TAWASUL_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) and drop it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psycopg
import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page
from redis.asyncio import Redis as AsyncRedis

from bot.crypto import Cipher, use_cipher
from bot.db import Database
from bot.migrate import upgrade
from bot.profile import Profile
from bot.profile_loader import load_profile
from bot.settings import Settings, load_settings
from bot.storage import Store
from tests import spawned
from tests.browser import DESK_TIMEOUT, browser_context, chromium

ROOT = Path(__file__).resolve().parent.parent


def _redis_url_for_this_worker(url: str) -> str:
    """`make test` runs the suite in several pytest-xdist workers (gw0, gw1, ...): each gets
    a Redis database of its own (15, 14, ... below the one given), since each flushes its
    database when it starts."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    base, _, number = url.rpartition("/")
    database = int(number) if number.isdigit() else 0
    offset = int(worker[2:])
    return f"{base}/{database - offset if database >= offset else database + offset}"


REDIS_URL = _redis_url_for_this_worker(
    os.environ.get("TAWASUL_REDIS_URL") or "redis://127.0.0.1:6379/15"
)
POSTGRES_ADMIN_URL = (
    os.environ.get("TAWASUL_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
)
SECRET_KEY = "test-secret-key-not-for-production"
PROFILE = ROOT / "profiles" / "example.yaml"


def tawasul_cli(
    tmp_path: Path, *args: str, stdin: str = "", extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `tawasul` command as an administrator would, over a fresh `var/` in tmp_path."""
    env = {
        **os.environ,
        "TAWASUL_VAR_DIR": str(tmp_path / "var"),
        "TAWASUL_REDIS_URL": REDIS_URL,
        "TAWASUL_SECRET_KEY": SECRET_KEY,
        "TAWASUL_PROFILE": str(PROFILE),
        **(extra_env or {}),
    }
    env.pop("TAWASUL_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the run, loudly, when a `tawasul` process it started outlives it (and kill it)."""
    yield
    left = spawned.leftovers(tmp_path_factory.getbasetemp())
    if left:
        pytest.fail("processes left running by this test run:\n" + "\n".join(left))


@pytest.fixture(scope="session", autouse=True)
def clean_redis() -> None:
    """Start every run from an empty test database."""
    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture(scope="session")
def cipher() -> Cipher:
    cipher = Cipher(SECRET_KEY)
    use_cipher(cipher)
    return cipher


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _admin(sql: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tawasul.db'}"
        upgrade(url)
        yield url
        return
    name = f"tawasul_test_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def store(database_url: str, cipher: Cipher) -> AsyncIterator[Store]:
    db = Database(database_url)
    yield Store(db, cipher)
    db.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        redis_url=REDIS_URL,
        secret_key=SECRET_KEY,
        profile=PROFILE,
    )


@dataclass
class LiveGateway:
    """`tawasul serve` and `tawasul worker` running as a newcomer would run them."""

    url: str
    database_url: str
    env: dict[str, str]
    var_dir: Path


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"server exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not become healthy")


@contextmanager
def launch_gateway(
    directory: Path, extra_env: dict[str, str] | None = None
) -> Iterator[LiveGateway]:
    """Run `tawasul serve` and `tawasul worker` over a fresh SQLite database in `directory`,
    with `extra_env` on top (channel credentials, fake provider API bases)."""
    var_dir = directory / "var"
    database_url = f"sqlite:///{var_dir / 'tawasul.db'}"
    port = _free_port()
    env = {
        **os.environ,
        "TAWASUL_VAR_DIR": str(var_dir),
        "TAWASUL_DATABASE_URL": database_url,
        "TAWASUL_REDIS_URL": REDIS_URL,
        "TAWASUL_SECRET_KEY": SECRET_KEY,
        "TAWASUL_PROFILE": str(PROFILE),
        "TAWASUL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TAWASUL_QUEUE": f"test-{uuid.uuid4().hex[:8]}",
        **(extra_env or {}),
    }
    cli = [sys.executable, "-m", "bot.app.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
    logs = var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "serve.log").open("wb") as serve_log, (logs / "worker.log").open("wb") as wlog:
        server = spawned.start(
            [*cli, "serve", "--port", str(port), "--no-worker"],
            env=env,
            cwd=ROOT,
            stdout=serve_log,
            stderr=subprocess.STDOUT,
        )
        worker = spawned.start(
            [*cli, "worker"], env=env, cwd=ROOT, stdout=wlog, stderr=subprocess.STDOUT
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}", server, logs / "serve.log")
            yield LiveGateway(f"http://127.0.0.1:{port}", database_url, env, var_dir)
        finally:
            spawned.stop(server, worker)


@pytest.fixture(scope="session")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with launch_gateway(tmp_path_factory.mktemp("live")) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def profile() -> Profile:
    """The example association's profile, as the gateway loads it."""
    return load_profile(PROFILE)


@pytest.fixture(name="redis")
async def async_redis() -> AsyncIterator[AsyncRedis]:
    """An async client of the test Redis, as the gateway's own."""
    client = AsyncRedis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, shared by the page tests of a module."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def desk(browser: Browser) -> Iterator[BrowserContext]:
    """A staff member's browser on a desktop screen."""
    with browser_context(browser, DESK_TIMEOUT) as context:
        yield context


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page in the module's own `context` fixture."""
    return context.new_page()
