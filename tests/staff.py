"""Staff accounts on a live gateway, made with `tawasul user add` as an administrator would."""

from __future__ import annotations

import subprocess
import sys
from typing import Protocol

from tests.conftest import ROOT

PASSWORD = "correct horse battery"


class Running(Protocol):
    """A gateway started by the tests (conftest's LiveGateway, processes' Gateway)."""

    env: dict[str, str]


def add_staff(gateway: Running, email: str, name: str, role: str) -> None:
    """A staff account whose password is PASSWORD."""
    subprocess.run(
        [sys.executable, "-m", "bot.app.cli", "user", "add", "--email", email, "--name", name,
         "--role", role, "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        env=gateway.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )  # fmt: skip
