"""`tawasul broadcast create|list|status|cancel`: updates to consenting contacts (issue 14)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.settings import Settings
from bot.storage.broadcasts import BroadcastCounts, BroadcastSpec

if TYPE_CHECKING:
    from worker.broadcast_service import BroadcastService

FOLLOW_INTERVAL_SECONDS = 0.5


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    broadcast = commands.add_parser(
        "broadcast", help="send an update to consenting contacts"
    ).add_subparsers(dest="broadcast_command", required=True)
    create = broadcast.add_parser("create", help="send an update (now or at a time)")
    create.add_argument("--text-ar", required=True, help="the update in Arabic")
    create.add_argument("--text-en", required=True, help="the update in English")
    create.add_argument("--channel", action="append", default=[], help="only this channel")
    create.add_argument("--language", choices=["ar", "en"], help="only contacts in this language")
    create.add_argument("--city", action="append", default=[], help="only contacts in this city")
    create.add_argument(
        "--at", type=_moment, help="when to send (ISO 8601, e.g. 2027-03-01T09:00+03:00)"
    )
    create.add_argument("--dry-run", action="store_true", help="only count the recipients")
    create.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    create.set_defaults(func=cmd_create)
    broadcast.add_parser("list", help="the latest broadcasts").set_defaults(func=cmd_list)
    status = broadcast.add_parser("status", help="where a broadcast's recipients are")
    status.add_argument("id", type=int)
    status.add_argument("--follow", action="store_true", help="a live progress bar until it ends")
    status.set_defaults(func=cmd_status)
    cancel = broadcast.add_parser("cancel", help="stop a broadcast: nothing more of it is sent")
    cancel.add_argument("id", type=int)
    cancel.set_defaults(func=cmd_cancel)


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r}: give the time zone (e.g. +03:00 or Z)")
    return moment


def _run(settings: Settings, work: Callable[[BroadcastService], Awaitable[int]]) -> int:
    from bot.app.runtime import cipher_for, redis_url_for
    from bot.db import Database
    from bot.profile_loader import load_profile
    from worker.broadcast_service import BroadcastService
    from worker.queues import make_queue

    async def main() -> int:
        cipher_for(settings)
        profile = load_profile(settings.profile)
        redis_url, embedded = redis_url_for(settings, embedded_redis=True)
        db = Database(settings.sqlalchemy_url)
        try:
            service = BroadcastService(
                db, make_queue(redis_url, settings.queue_name), profile.default_language
            )
            return await work(service)
        finally:
            db.close()
            if embedded is not None:
                embedded.close()

    return asyncio.run(main())


def cmd_create(settings: Settings, args: argparse.Namespace) -> int:
    if not args.text_ar.strip() or not args.text_en.strip():
        print("error: --text-ar and --text-en must not be empty", file=sys.stderr)
        return 2
    if args.at is not None and args.at <= datetime.now(UTC):
        print("error: --at is in the past", file=sys.stderr)
        return 2
    spec = BroadcastSpec(
        text_ar=args.text_ar.strip(),
        text_en=args.text_en.strip(),
        channels=tuple(args.channel),
        language=args.language,
        cities=tuple(args.city),
        at=args.at,
    )

    async def work(service: BroadcastService) -> int:
        counted = await service.create(spec, dry_run=True)
        _print_counts(counted.per_channel)
        if args.dry_run:
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                print("error: not a terminal; add --yes to send without asking", file=sys.stderr)
                return 2
            question = f"send to {counted.total} recipients? [y/N] "
            answer = (await asyncio.to_thread(input, question)).strip().lower()
            if answer not in ("y", "yes"):
                print("not sent")
                return 1
        created = await service.create(spec)
        when = f" at {spec.at.isoformat()}" if spec.at else ""
        print(f"broadcast {created.broadcast_id} created{when}: {created.total} recipients")
        _print_counts(created.per_channel)
        return 0

    return _run(settings, work)


def _print_counts(per_channel: dict[str, int]) -> None:
    for channel, count in per_channel.items():
        print(f"  {channel}: {count}")
    print(f"  total: {sum(per_channel.values())}")


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: BroadcastService) -> int:
        for item in await service.summaries():
            when = item.scheduled_at.isoformat() if item.scheduled_at else "-"
            print(
                f"{item.id}\t{item.status}\t{item.recipients} recipients\t"
                f"created {item.created_at.isoformat(timespec='seconds')}\tat {when}"
            )
        return 0

    return _run(settings, work)


def format_counts(counts: BroadcastCounts) -> str:
    skipped = sum(counts.skipped.values())
    lines = [
        f"broadcast {counts.id}: {counts.status}, {counts.total} recipients",
        f"  pending {counts.pending}  queued {counts.queued}  sent {counts.sent}  "
        f"delivered {counts.delivered}  read {counts.read}  failed {counts.failed}  "
        f"unknown {counts.unknown}  skipped {skipped}",
    ]
    lines += [f"  skipped ({reason}): {n}" for reason, n in sorted(counts.skipped.items())]
    return "\n".join(lines)


def _bar(counts: BroadcastCounts, width: int = 30) -> str:
    share = counts.finished / counts.total if counts.total else 1.0
    filled = int(share * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {counts.finished}/{counts.total}"


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: BroadcastService) -> int:
        while True:
            counts = await service.status(args.id)
            if counts is None:
                print(f"error: no broadcast {args.id}", file=sys.stderr)
                return 1
            if not args.follow or counts.done:
                if args.follow:
                    print("\r" + _bar(counts))
                print(format_counts(counts))
                return 0
            print("\r" + _bar(counts), end="", flush=True)
            await asyncio.sleep(FOLLOW_INTERVAL_SECONDS)

    return _run(settings, work)


def cmd_cancel(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: BroadcastService) -> int:
        if await service.cancel(args.id):
            print(f"broadcast {args.id} cancelled: nothing more of it is sent")
            return 0
        print(f"error: broadcast {args.id} is not scheduled or running", file=sys.stderr)
        return 1

    return _run(settings, work)
