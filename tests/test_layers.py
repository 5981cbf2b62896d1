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
    """A module added to bot/ outside bot/app/ and bot/console/ (the application's layers)
    must be listed, or nothing would check it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    core = next(c for c in config["contracts"] if c["type"] == "forbidden")
    listed = set(core["source_modules"])
    bot = ROOT / "bot"
    present = {f"bot.{path.stem}" for path in bot.glob("*.py") if path.stem != "__init__"}
    present |= {
        f"bot.{path.parent.name}"
        for path in bot.glob("*/__init__.py")
        if path.parent.name not in ("app", "console")
    }
    assert present - listed == set(), "add these to the core contract in pyproject.toml"
    assert {"bot.app", "bot.console"} <= set(core["forbidden_modules"])
