"""``ops``: the operator's command line.

    ops create-user --email support@example.com --role support   (asks for the password)
    ops migrate                                                   (Alembic upgrade head)
    ops register-search-attributes                                (idempotent)

Settings come from the same TEMPWORK_* environment as the services (and .data/dev.env).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from core.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent


async def create_user(args: argparse.Namespace) -> int:
    from core.accounts import EmailTaken
    from core.accounts import create_user as insert_user
    from core.db import create_engine
    from models.common import Role

    password = os.environ.get("TEMPWORK_NEW_USER_PASSWORD") or getpass.getpass("Password: ")
    if len(password) < 10:
        print("the password must have at least 10 characters", file=sys.stderr)
        return 2
    engine = create_engine(get_settings())
    try:
        user = await insert_user(
            engine, args.email, password, args.name or args.email, Role(args.role)
        )
    except EmailTaken:
        print(f"not created: {args.email} is already registered", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"created {user.role} {user.email} ({user.id})")
    return 0


def migrate(args: argparse.Namespace) -> int:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=False
    ).returncode


async def register_search_attributes(args: argparse.Namespace) -> int:
    from core.temporal import connect
    from core.temporal import register_search_attributes as register

    settings = get_settings()
    added = await register(await connect(settings), settings.temporal_namespace)
    print(f"added: {', '.join(added)}" if added else "all search attributes already registered")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ops", description="Tempwork operations")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create-user", help="create a user (staff accounts are only made here)")
    c.add_argument("--email", required=True)
    c.add_argument("--role", required=True, choices=["support", "admin", "client", "worker"])
    c.add_argument("--name", help="display name (default: the email)")
    c.set_defaults(run=create_user)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=migrate)
    sub.add_parser(
        "register-search-attributes", help="register custom search attributes"
    ).set_defaults(run=register_search_attributes)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int | Coroutine[Any, Any, int]] = args.run
    result = run(args)
    return asyncio.run(result) if asyncio.iscoroutine(result) else int(result)


if __name__ == "__main__":
    sys.exit(main())
