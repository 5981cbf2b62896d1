"""The `tawasul` command: serve, worker, chat, migrate, user add|list|disable|set-password,
broadcast, profile check."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from aiohttp import web
from pydantic import ValidationError

from bot.app.cli_broadcast import add_parser as add_broadcast_parser
from bot.app.lifeline import child_env, follow_parent_from_env, follow_parent_in_forks
from bot.event_loop import new_event_loop
from bot.i18n import translator
from bot.migrate import upgrade
from bot.profile_loader import ProfileError, format_errors, load_profile
from bot.settings import Settings, load_settings
from bot.users import ROLES

if TYPE_CHECKING:
    from bot.storage import Store

log = logging.getLogger("tawasul")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# -- serve ------------------------------------------------------------------------------------
def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app.runtime import media_problem, redis_url_for

    problem = _schema_problem(settings) or media_problem(settings)
    if problem is not None:
        log.error("cannot serve: %s", problem)
        return 2
    redis_url, embedded = redis_url_for(settings, embedded_redis=True)
    with_worker = args.worker if args.worker is not None else embedded is not None
    # Each child ends with this process, even one killed with no time to stop them.
    env = child_env({**os.environ, "TAWASUL_REDIS_URL": redis_url})
    children: list[subprocess.Popen[bytes]] = []
    if with_worker:
        children.append(subprocess.Popen([sys.executable, "-m", "bot.app.cli", "worker"], env=env))
        log.info("worker started alongside (pid %s)", children[-1].pid)
    # One process each: TAWASUL_WEB_PROCESSES in their environment must not make them start
    # more in turn.
    web_args = ["--host", args.host, "--port", str(args.port), "--processes", "1"]
    web_args += ["--no-worker", "--reuse-port"]
    for _ in range(args.processes - 1):
        children.append(
            subprocess.Popen([sys.executable, "-m", "bot.app.cli", "serve", *web_args], env=env)
        )
    try:
        log.info(
            "serving on http://%s:%s with %d web process(es) (web chat at /chat)",
            args.host,
            args.port,
            args.processes,
        )
        _run_web(settings, redis_url, args.host, args.port, args.reuse_port or args.processes > 1)
    finally:
        # A second Ctrl-C (make passes the first on to the whole group) must not cut this
        # short: the worker or the embedded Redis would be left running.
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded is not None:
            embedded.close()  # after the worker: the embedded Redis lives as long as the web
        signal.signal(signal.SIGINT, interrupt)
    return 0


def _schema_problem(settings: Settings) -> str | None:
    """Why the database cannot serve (never migrated, or behind), checked before serving:
    otherwise /healthz would say ok and every message get 503. A database that cannot be
    reached yet is left to /healthz, so a server may start before its database."""
    from bot.db import make_engine, sync_url
    from bot.migrate import NOT_MIGRATED, schema_problem, sqlite_path

    path = sqlite_path(sync_url(settings.sqlalchemy_url))
    if path is not None and not path.exists():
        return NOT_MIGRATED  # and do not make an empty file there
    engine = make_engine(settings.sqlalchemy_url)
    try:
        return schema_problem(engine)
    except Exception as exc:
        log.warning("could not check the database's schema yet: %s", type(exc).__name__)
        return None
    finally:
        engine.dispose()


def _run_web(settings: Settings, redis_url: str, host: str, port: int, reuse_port: bool) -> None:
    """One web process; with `reuse_port` several share the port and the kernel spreads
    connections between them (state lives in Redis and the database, not in a process)."""
    from bot.app.runtime import open_runtime
    from bot.app.web import create_app

    async def build() -> web.Application:
        runtime = await open_runtime(settings, redis_url=redis_url)

        async def close_runtime(_app: web.Application) -> None:
            await runtime.close()

        app = create_app(runtime)
        app.on_cleanup.append(close_runtime)
        # What start-up built (libraries, the profile, catalogs, SQL metadata) lives as long
        # as the process: leave it out of the collector's full passes, which otherwise walk
        # all of it and stop every request for 70-90 ms, a few times a minute under load.
        gc.freeze()
        return app

    web.run_app(
        build(),
        host=host,
        port=port,
        reuse_port=reuse_port,
        print=None,
        access_log=None,
        loop=new_event_loop(),
    )


# -- worker -----------------------------------------------------------------------------------
def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app.runtime import media_problem, redis_url_for
    from bot.app.worker_runtime import open_worker_runtime
    from worker import process
    from worker.main import run_worker

    if args.check:
        return _check_worker(settings)
    problem = media_problem(settings)
    if problem is not None:
        log.error("cannot work: %s", problem)
        return 2
    redis_url, embedded = redis_url_for(settings, embedded_redis=True)
    follow_parent_in_forks()  # rq's scheduler, a fork of this process, ends with it
    process.use_opener(lambda: open_worker_runtime(settings, redis_url))
    try:
        run_worker(settings, redis_url, burst=args.burst)
    finally:
        if embedded is not None:
            embedded.close()
    return 0


def _check_worker(settings: Settings) -> int:
    """0 when a worker of this host is alive (a container's healthcheck), else 1 and why."""
    from worker.health import worker_alive

    if not settings.redis_url:
        print("error: TAWASUL_REDIS_URL is not set", file=sys.stderr)
        return 1
    problem = worker_alive(settings.redis_url, settings.queue_name)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print("ok")
    return 0


# -- chat -------------------------------------------------------------------------------------
async def chat(settings: Settings, address: str | None, stdin: TextIO, stdout: TextIO) -> int:
    """Talk to the bot as a beneficiary: one message per input line, every reply printed."""
    from bot.app.router import Router
    from bot.app.runtime import live_faq, open_runtime
    from channels.terminal import TerminalChannel
    from handlers.wiring import build_dispatcher
    from worker.inline import InlineOutbox

    await asyncio.to_thread(upgrade, settings.sqlalchemy_url)
    runtime = await open_runtime(settings, with_channels=False)
    terminal = TerminalChannel(stdout, address)
    runtime.channels = {terminal.name: terminal}
    router = Router(
        runtime.store,
        runtime.redis,
        InlineOutbox(runtime),
        build_dispatcher(runtime.profile, live_faq(runtime)),
        runtime.profile,
    )
    session = uuid.uuid4().hex[:12]
    if stdin.isatty():
        t = translator(runtime.profile.default_language)
        stdout.write(t.gettext("Write your message and press Enter; Ctrl-D ends the chat.") + "\n")
    try:
        while True:
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if line.strip():
                await router.handle(terminal.inbound(line, session))
    finally:
        await runtime.close()
    return 0


def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(chat(settings, args.address, sys.stdin, sys.stdout))


# -- migrate, users, profile ------------------------------------------------------------------
def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    upgrade(settings.sqlalchemy_url)
    print(f"database is up to date ({settings.sqlalchemy_url.split(':')[0]})")
    return 0


def _run_with_store(settings: Settings, work: Callable[[Store], Awaitable[int]]) -> int:
    """Run one staff-account operation against the configured database."""
    from bot.app.runtime import cipher_for
    from bot.db import Database
    from bot.storage import Store

    async def run() -> int:
        db = Database(settings.sqlalchemy_url)
        try:
            return await work(Store(db, cipher_for(settings)))
        finally:
            db.close()

    try:
        return asyncio.run(run())
    except (ValueError, LookupError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2


def _read_password(args: argparse.Namespace) -> str:
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass()
    if getpass.getpass("Password again: ") != password:
        raise SystemExit("error: the two passwords differ")
    return password


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    from bot.users import add_user

    password = _read_password(args)

    async def work(store: Store) -> int:
        user_id = await add_user(store, args.email, args.name, args.role, password)
        print(f"staff user {args.email} created (id {user_id}, role {args.role})")
        return 0

    return _run_with_store(settings, work)


def cmd_user_list(settings: Settings, args: argparse.Namespace) -> int:
    from bot.users import list_staff

    async def work(store: Store) -> int:
        staff = await list_staff(store)
        if not staff:
            print("no staff users yet: create one with `tawasul user add`")
            return 0
        width = max(len(member.email) for member in staff)
        for member in staff:
            state = "active" if member.active else "disabled"
            print(f"{member.email:<{width}}  {member.role:<10}  {state:<8}  {member.name}")
        return 0

    return _run_with_store(settings, work)


def cmd_user_disable(settings: Settings, args: argparse.Namespace) -> int:
    from bot.users import disable_user

    async def work(store: Store) -> int:
        await disable_user(store, args.email)
        print(f"staff user {args.email} disabled: they can no longer sign in")
        return 0

    return _run_with_store(settings, work)


def cmd_user_set_password(settings: Settings, args: argparse.Namespace) -> int:
    from bot.users import set_password

    password = _read_password(args)

    async def work(store: Store) -> int:
        await set_password(store, args.email, password)
        print(f"password of {args.email} changed; their open console sessions have ended")
        return 0

    return _run_with_store(settings, work)


def cmd_profile_check(settings: Settings, args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.path)
    except ProfileError as exc:
        print(format_errors(args.path, exc.errors), file=sys.stderr)
        return 1
    print(f"{args.path}: OK ({profile.name.en} / {profile.name.ar})")
    return 0


# -- telegram ---------------------------------------------------------------------------------
def cmd_telegram_set_webhook(settings: Settings, args: argparse.Namespace) -> int:
    from channels.telegram import TelegramSettings, TelegramSetupError, set_webhook

    try:
        print(asyncio.run(set_webhook(TelegramSettings(), settings.public_url)))
    except TelegramSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# -- parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tawasul", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the gateway over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--worker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start a worker process alongside (default: only with the embedded Redis)",
    )
    serve.add_argument(
        "--processes",
        type=int,
        default=int(os.environ.get("TAWASUL_WEB_PROCESSES", "1")),
        help="web processes sharing the port (default 1, or TAWASUL_WEB_PROCESSES)",
    )
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", help="deliver queued messages and run scheduled jobs")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.add_argument(
        "--check", action="store_true", help="exit 0 when a worker of this host is alive"
    )
    worker.set_defaults(func=cmd_worker)

    chat_cmd = commands.add_parser("chat", help="talk to the bot as a beneficiary")
    chat_cmd.add_argument("--as", dest="address", help="who you are (default: your user name)")
    chat_cmd.set_defaults(func=cmd_chat)

    commands.add_parser("migrate", help="create or upgrade the database").set_defaults(
        func=cmd_migrate
    )

    user = commands.add_parser("user", help="staff accounts").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="create a staff account")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(func=cmd_user_add)
    user.add_parser("list", help="list staff accounts").set_defaults(func=cmd_user_list)
    disable = user.add_parser("disable", help="stop an account from signing in")
    disable.add_argument("email")
    disable.set_defaults(func=cmd_user_disable)
    set_pw = user.add_parser("set-password", help="give an account a new password")
    set_pw.add_argument("email")
    set_pw.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    set_pw.set_defaults(func=cmd_user_set_password)

    add_broadcast_parser(commands)

    profile = commands.add_parser("profile", help="organisation profile").add_subparsers(
        dest="profile_command", required=True
    )
    check = profile.add_parser("check", help="validate a profile and print every error")
    check.add_argument("path")
    check.set_defaults(func=cmd_profile_check)

    telegram = commands.add_parser("telegram", help="the Telegram bot").add_subparsers(
        dest="telegram_command", required=True
    )
    telegram.add_parser(
        "set-webhook",
        help="point the bot at TAWASUL_PUBLIC_URL/webhooks/telegram with TELEGRAM_SECRET_TOKEN",
    ).set_defaults(func=cmd_telegram_set_webhook)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    follow_parent_from_env()  # a child of `tawasul serve`: end with it
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as exc:  # a setting an administrator typed: say which, no trace
        for error in exc.errors():
            print(f"error: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    level = "WARNING" if args.command in ("chat", "profile") else settings.log_level
    _configure_logging(level)
    code: int = args.func(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
