"""The SLA watch in real `tawasul worker` processes: two workers over one database and
Redis, scheduled by RQ's scheduler; a late request is escalated to its manager, its
beneficiary told (the message delivered), another's researcher reminded, each email once."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select

from bot.crypto import Cipher
from bot.db import Database
from bot.profile_loader import load_profile
from bot.storage import Store
from bot.tables import Message, SupportRequest
from bot.tables_sla import SlaAlert, StaffNotification
from tests.conftest import PROFILE, REDIS_URL
from tests.fakes.smtp import FakeSmtpServer
from tests.processes import gateway
from tests.test_sla_watch import MANAGER, RESEARCHER, beneficiary, filed_request
from tests.waiting import eventually


def sla_env(directory: Path, smtp_port: int) -> dict[str, str]:
    """A deployment whose SLA watch runs every second and whose digests wait two seconds,
    emailing through the test's SMTP server."""
    data = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    data["notifications"]["digest_seconds"] = 2
    profile = directory / "sla-profile.yaml"
    profile.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return {
        "TAWASUL_PROFILE": str(profile),
        "TAWASUL_SLA_WATCH_SECONDS": "1",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_FROM": "tawasul@example.org",
        "SMTP_STARTTLS": "false",
    }


def test_two_real_workers_escalate_remind_and_tell_once(tmp_path: Path, cipher: Cipher) -> None:
    smtp = FakeSmtpServer().start()
    env = sla_env(tmp_path, smtp.port)
    profile_path = Path(env["TAWASUL_PROFILE"])
    try:
        with gateway(tmp_path / "g", REDIS_URL, env) as live:
            db = Database(live.database_url)
            store = Store(db, cipher)
            profile = load_profile(profile_path)
            late = filed_request(store, profile, beneficiary(store, "800"))
            soon = filed_request(store, profile, beneficiary(store, "801"))
            now = datetime.now(UTC)
            with store.db.sessions.begin() as session:
                for reference, due in ((late, now - timedelta(hours=3)),
                                       (soon, now + timedelta(hours=30))):  # fmt: skip
                    request = session.scalar(
                        select(SupportRequest).where(SupportRequest.reference == reference)
                    )
                    assert request is not None
                    request.decision_due = due
            live.start_worker()
            second = live._start(f"worker-{uuid.uuid4().hex[:4]}", "worker")
            try:
                overdue = smtp.wait_for(MANAGER, timeout=90)
                reminded = smtp.wait_for(RESEARCHER, timeout=90)
                assert late in overdue[0].text and soon in reminded[0].text

                def told() -> bool:
                    with db.sessions() as session:
                        rows = session.scalars(
                            select(Message.status).where(Message.direction == "out")
                        ).all()
                        return len(rows) == 1 and rows[0] != "queued"

                eventually(told, "the late notice delivered", 90)

                def all_sent() -> bool:
                    with db.sessions() as session:
                        statuses = session.scalars(select(StaffNotification.status)).all()
                        return bool(statuses) and set(statuses) == {"sent"}

                eventually(all_sent, "every notification sent", 90)
                with db.sessions() as session:
                    kinds = sorted(session.scalars(select(SlaAlert.kind)).all())
                assert kinds == ["escalate", "late_notice", "remind"]
                assert len(smtp.to(MANAGER)) == 1 and len(smtp.to(RESEARCHER)) == 1
            finally:
                second.terminate()
                try:
                    second.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    second.kill()
                db.close()
    finally:
        smtp.stop()
