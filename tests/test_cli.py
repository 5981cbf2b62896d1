"""The administrator's commands: profile check, migrate, user add, and honest refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import PROFILE, tawasul_cli


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


def test_broadcast_says_plainly_it_is_not_available_yet(tmp_path: Path) -> None:
    result = tawasul(tmp_path, "broadcast")
    assert result.returncode == 2
    assert "not available yet" in result.stderr
