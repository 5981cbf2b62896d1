"""The layers of DESIGN.md hold: import-linter's contracts in pyproject.toml pass, and every
core module is under the contract that keeps the core from importing anything above it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_the_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_core_module_is_held_to_the_core_contract() -> None:
    """A module added to bot/ outside bot/app/ must be listed, or nothing would check it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    core = next(c for c in config["contracts"] if c["type"] == "forbidden")
    listed = set(core["source_modules"])
    bot = ROOT / "bot"
    present = {f"bot.{path.stem}" for path in bot.glob("*.py") if path.stem != "__init__"}
    present |= {
        f"bot.{path.parent.name}" for path in bot.glob("*/__init__.py") if path.parent.name != "app"
    }
    assert present - listed == set(), "add these to the core contract in pyproject.toml"
    assert "bot.app" in core["forbidden_modules"]


def test_no_module_outgrows_one_job() -> None:
    """Issue 9's measure of a room with one job: no module over 450 lines (tests and
    migrations apart). A module that grows past it is split by what its parts do."""
    sources = [
        path
        for package in ("bot", "channels", "handlers", "worker")
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    ]
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in sources
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert len(sources) > 50
    assert too_long == {}
