"""The `igot` command: run the servers, and administer users, indexes, parked messages and moderation."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from pydantic import ValidationError
from pydantic_settings import SettingsError

from igot import moderation_admin, user_admin
from igot.indexes import ALL_INDEXES
from igot.migrations import migrate_data
from igot.runtime import SERVICE_NAMES, Mode, create_app, open_bus, open_store, prune_topology, sqlite_path
from services.auth import accounts
from services.dispatcher.app import Consumers
from shared.bus import BusUnavailableError
from shared.envelope import ApiError
from shared.http_server import serve
from shared.logs import configure_logging, get_logger
from shared.settings import Settings
from shared.store import Store, StoreUnavailableError
from shared.topology import DELIVERY_WAYS
from shared.web import SERVICE

log = get_logger("igot")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _serve(
    settings: Settings,
    *,
    mode: Mode,
    services: list[str],
    host: str | None,
    port: int | None,
    dispatcher: Consumers | None = None,
) -> None:
    # `--host`/`--port` stand for `IGOT_HTTP_HOST`/`IGOT_HTTP_PORT`: the public URL follows them too.
    overrides: dict[str, Any] = {"http_host": host, "http_port": port}
    if any(value is not None for value in overrides.values()):
        settings = Settings(**{name: value for name, value in overrides.items() if value is not None})
    host, port = settings.http_host, settings.http_port
    app = create_app(settings, mode=mode, services=services, dispatcher=dispatcher)
    configure_logging(settings.log_format, settings.log_level, service=app[SERVICE])

    async def announce(app: web.Application) -> None:
        where = {"data_dir": str(settings.data_dir.resolve())} if mode == "standalone" else {}
        log.info("igot ready", url=f"http://{host}:{port}", mode=mode, services=services, **where)

    app.on_startup.append(announce)
    serve(app, host=host, port=port, header_timeout=settings.http_header_timeout_seconds)


async def _with_store(settings: Settings, work: Callable[[Store], Awaitable[Any]]) -> Any:
    if settings.mode == "standalone" and not sqlite_path(settings).exists():
        # Most often a command run with another IGOT_DATA_DIR (or directory) than the server's.
        sys.stderr.write(
            f"igot: no store at {sqlite_path(settings)} yet: creating an empty one"
            " (set IGOT_DATA_DIR to the server's data directory to use its store)\n"
        )
    store = open_store(settings, settings.mode)
    try:
        await store.ensure_indexes(ALL_INDEXES)
        return await work(store)
    finally:
        await store.close()


def _user_create(settings: Settings, args: argparse.Namespace) -> int:
    user = asyncio.run(_with_store(settings, lambda store: accounts.create_user(store, args.email)))
    if args.json:
        _out(json.dumps({"id": user.id, "key": user.key, "email": user.email}))
    else:
        _out(f"user {user.email} created\npush key: {user.key}")
        _out(f"try: curl {settings.public_url}/{user.key}/hello")
    return 0


def _login_code(settings: Settings, args: argparse.Namespace) -> int:
    code = asyncio.run(
        _with_store(
            settings,
            lambda store: accounts.issue_login_code(
                store, args.email, ttl_seconds=settings.login_code_ttl_seconds
            ),
        )
    )
    minutes = settings.login_code_ttl_seconds // 60
    _out(json.dumps({"code": code}) if args.json else f"{code}  (valid {minutes} minutes)")
    return 0


def _user_list(settings: Settings, args: argparse.Namespace) -> int:
    listed = asyncio.run(
        _with_store(settings, lambda store: user_admin.list_users(store, show_keys=args.show_keys))
    )
    _out(json.dumps(listed, ensure_ascii=False) if args.json else user_admin.table(listed))
    return 0


def _user_change(settings: Settings, args: argparse.Namespace) -> int:
    if args.user_command == "delete" and not args.yes:
        sys.stderr.write(f"delete {args.user} and all its data? type the address or id again to confirm: ")
        try:
            answer = input().strip()
        except EOFError:
            answer = ""
        if answer != args.user.strip():
            sys.stderr.write("igot: not confirmed; nothing changed\n")
            return 1
    done = asyncio.run(
        _with_store(
            settings,
            lambda store: user_admin.change_account(settings, store, args.user, args.user_command),
        )
    )
    _out(done)
    return 0


async def _push(args: argparse.Namespace, settings: Settings) -> int:
    server = (args.server or settings.public_url).rstrip("/")
    payload = {"content": args.content, "title": args.title or "", "url": args.url or ""}
    async with (
        ClientSession(timeout=ClientTimeout(total=30)) as session,
        session.post(f"{server}/{args.key}", json=payload) as response,
    ):
        answer = await response.json(content_type=None)
    _out(json.dumps(answer, ensure_ascii=False))
    return 0 if answer.get("ret") == 0 else 1


def _migrate(settings: Settings) -> int:
    async def run(store: Store) -> tuple[int, list[str]]:
        split = await migrate_data(store)
        if settings.mode != "distributed":
            return split, []  # the in-process bus binds at every start: nothing stale survives a restart
        bus = open_bus(settings, "distributed", store=store)
        await bus.start()
        try:
            return split, await prune_topology(bus)
        finally:
            await bus.stop()

    split, removed = asyncio.run(_with_store(settings, run))
    _out(
        f"indexes ensured ({len(ALL_INDEXES)})"
        + (" and queues declared" if settings.mode == "distributed" else "")
    )
    if split:
        _out(f"inbox entries moved to stored messages: {split}")
    for binding in removed:
        _out(f"binding removed: {binding}")
    return 0


def _dlq(settings: Settings, args: argparse.Namespace) -> int:
    async def run(store: Store) -> int:
        # Standalone: the queue table in the SQLite file; a running server takes replayed messages in
        # at its next poll. This bus consumes nothing.
        bus = open_bus(settings, settings.mode, store=store)
        await bus.start()
        try:
            if args.action == "replay":
                count = await bus.replay(args.queue, limit=args.limit)
                _out(f"replayed {count} message(s) to {args.queue}")
                return 0
            for parked in await bus.parked(args.queue, limit=args.limit or 100):
                _out(
                    json.dumps(
                        {
                            "routing_key": parked.routing_key,
                            "error": parked.error,
                            "body": parked.body.decode(),
                        }
                    )
                )
            return 0
        finally:
            await bus.stop()

    result: int = asyncio.run(_with_store(settings, run))
    return result


def _moderation(settings: Settings, args: argparse.Namespace) -> int:
    code: int = asyncio.run(_with_store(settings, lambda store: moderation_admin.run(settings, store, args)))
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="igot", description="iGot push aggregation platform")
    commands = parser.add_subparsers(dest="command", required=True)

    standalone = commands.add_parser(
        "standalone", help="every service in one process (SQLite, in-process bus)"
    )
    standalone.add_argument("--host")
    standalone.add_argument("--port", type=int)

    serve = commands.add_parser("serve", help="one service on RabbitMQ and MongoDB")
    serve.add_argument("service", choices=SERVICE_NAMES)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    only = serve.add_mutually_exclusive_group()
    only.add_argument(
        "--channel",
        type=_channels,
        metavar="WAY[,WAY]",
        help=f"dispatcher: only these channels' consumers, no router ({', '.join(DELIVERY_WAYS)})",
    )
    only.add_argument("--router-only", action="store_true", help="dispatcher: the router, no channel")

    user = commands.add_parser("user", help="manage users").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user and their fixed push key")
    create.add_argument("--email", required=True)
    create.add_argument("--json", action="store_true")
    code = user.add_parser("login-code", help="issue a 6-character login code (valid 5 minutes)")
    code.add_argument("email")
    code.add_argument("--json", action="store_true")
    listing = user.add_parser("list", help="every user: id, e-mail, status, created, key (masked)")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--show-keys", action="store_true", help="show push keys in full")
    for action, summary in (
        ("disable", "stop a user's keys (204 / HTTP 403) and sessions until enabled"),
        ("enable", "let a disabled user sign in and push again"),
        ("delete", "stop a user's keys (204 / HTTP 410) and sessions; the server then removes the data"),
    ):
        changing = user.add_parser(action, help=summary)
        changing.add_argument("user", metavar="EMAIL|ID")
        if action == "delete":
            changing.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    push = commands.add_parser("push", help="send a push through a running server")
    push.add_argument("key")
    push.add_argument("content")
    push.add_argument("--title")
    push.add_argument("--url")
    push.add_argument("--server", help="server URL (default IGOT_PUBLIC_URL)")

    commands.add_parser("migrate", help="create indexes (distributed: declare queues, remove stale bindings)")

    dlq = commands.add_parser("dlq", help="inspect or replay parked (dead-lettered) messages")
    dlq.add_argument("action", choices=("list", "replay"))
    dlq.add_argument("--queue", default="dispatcher.accepted")
    dlq.add_argument("--limit", type=int)

    moderation_admin.add_commands(commands)
    return parser


def _channels(text: str) -> tuple[str, ...]:
    ways = tuple(dict.fromkeys(way.strip() for way in text.split(",") if way.strip()))
    unknown = [way for way in ways if way not in DELIVERY_WAYS]
    if not ways or unknown:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or 'none'}: not a channel (channels: {', '.join(DELIVERY_WAYS)})"
        )
    return ways


def _dispatcher_consumers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Consumers | None:
    if not (args.channel or args.router_only):
        return None
    if args.service != "dispatcher":
        parser.error("--channel and --router-only are for `igot serve dispatcher`")
    return Consumers.router_only() if args.router_only else Consumers.only_channels(args.channel)


def load_settings() -> Settings | None:
    """The settings, or None after one line per problem on stderr, naming the variable (no traceback)."""
    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors(include_url=False, include_input=False):
            variable = "IGOT_" + str(problem["loc"][0]).upper() if problem["loc"] else "settings"
            sys.stderr.write(f"igot: {variable}: {problem['msg']}\n")
    except SettingsError as error:  # a value that is not even JSON where a list is expected
        field = str(error).split('"')[1] if '"' in str(error) else ""
        variable = f"IGOT_{field.upper()}" if field else "settings"
        sys.stderr.write(f"igot: {variable}: cannot parse the value ({error.__cause__ or error})\n")
    return None


USER_COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "create": _user_create,
    "login-code": _login_code,
    "list": _user_list,
    "disable": _user_change,
    "enable": _user_change,
    "delete": _user_change,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "user" and args.user_command == "delete" and not args.yes and not sys.stdin.isatty():
        parser.error("user delete: add --yes to delete without a terminal to confirm on")
    consumers = _dispatcher_consumers(parser, args) if args.command == "serve" else None
    settings = load_settings()
    if settings is None:
        return 2
    configure_logging(settings.log_format, settings.log_level)
    try:
        if args.command == "standalone":
            _serve(settings, mode="standalone", services=list(SERVICE_NAMES), host=args.host, port=args.port)
            return 0
        if args.command == "serve":
            _serve(
                settings,
                mode="distributed",
                services=[args.service],
                host=args.host,
                port=args.port,
                dispatcher=consumers,
            )
            return 0
        if args.command == "user":
            return USER_COMMANDS[args.user_command](settings, args)
        if args.command == "push":
            return asyncio.run(_push(args, settings))
        if args.command == "migrate":
            return _migrate(settings)
        if args.command == "moderation":
            return _moderation(settings, args)
        return _dlq(settings, args)
    except ApiError as error:
        sys.stderr.write(f"igot: {error.reason}\n")
        return 1
    except (ClientError, OSError, StoreUnavailableError, BusUnavailableError) as error:
        sys.stderr.write(f"igot: {error}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
