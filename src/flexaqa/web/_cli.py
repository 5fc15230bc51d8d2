"""``flexaqa serve`` (the web app) and ``flexaqa users`` (who may log in)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from flexaqa._args import add_data, add_workers, float_range, int_range
from flexaqa.web.settings import WebError, WebSettings

DEFAULT_DB = "sqlite:///flexaqa-web.sqlite"


def add_commands(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="the web app: coach a video, browse the FKG and the data, annotate (binds to 127.0.0.1)",
        description="Start the flexaqa web app. It binds to 127.0.0.1 unless --host says otherwise; create "
        "users first with `flexaqa users add`.",
    )
    add_data(p, required=False, help="dataset folder to show and annotate (native or release layout)")
    p.add_argument(
        "--db", default=DEFAULT_DB, help=f"database URL of users and labels (default {DEFAULT_DB})"
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int_range(1, 65535), default=8000, help="port (default 8000)")
    p.add_argument("--jobs", type=Path, default=Path("flexaqa-web-jobs"), help="folder of coach jobs")
    p.add_argument(
        "--max-upload-mb",
        type=float_range(0, lo_open=True),
        default=200.0,
        help="largest upload in MiB (default 200)",
    )
    p.add_argument(
        "--queue", type=int_range(1), default=4, help="coach jobs waiting or running at once (default 4)"
    )
    add_workers(p, default=1, help="coach jobs running at once (default 1)")
    p.add_argument(
        "--session-hours",
        type=float_range(0, lo_open=True),
        default=8.0,
        help="a login expires after this (default 8)",
    )
    p.add_argument(
        "--secret-file", type=Path, help="file holding the session-signing key (default: a new key per start)"
    )
    p.set_defaults(func=_serve)

    u = sub.add_parser("users", help="who may log in to the web app: add, list")
    usub = u.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    a = usub.add_parser("add", help="add a user (the password is asked for, or read from FLEXAQA_PASSWORD)")
    a.add_argument("name", help="user name")
    a.add_argument(
        "--role", choices=("annotator", "reviewer", "admin"), required=True, help="what they may do"
    )
    a.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    a.set_defaults(func=_users_add)
    ls = usub.add_parser("list", help="list users and roles")
    ls.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    ls.set_defaults(func=_users_list)


def _settings(args: argparse.Namespace) -> WebSettings:
    secret = ""
    if args.secret_file is not None:
        try:
            secret = args.secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise WebError(f"{args.secret_file}: cannot read the secret key ({exc.strerror})") from exc
        if len(secret) < 32:
            raise WebError(f"{args.secret_file}: the secret key must be at least 32 characters")
    return WebSettings(
        db=args.db,
        jobs=args.jobs,
        data=None if args.data is None else Path(args.data),
        secret_key=secret,
        session_seconds=max(1, round(args.session_hours * 3600)),
        max_upload_bytes=max(1, round(args.max_upload_mb * 2**20)),
        queue_size=args.queue,
        workers=args.workers,
    )


def _serve(args: argparse.Namespace) -> int:
    from flexaqa.errors import require

    uvicorn = require("uvicorn", "web", "serving the web app")
    from flexaqa.web.app import create_app

    app = create_app(_settings(args))
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"flexaqa serve: listening on {args.host}: reachable from other machines", file=sys.stderr)
    print(f"flexaqa web app on http://{args.host}:{args.port}/ (Ctrl-C stops it)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _users_add(args: argparse.Namespace) -> int:
    from flexaqa.web.users import UserStore

    password = os.environ.get("FLEXAQA_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise WebError("no password: set FLEXAQA_PASSWORD or run in a terminal to be asked")
        password = getpass.getpass(f"password for {args.name}: ")
    user = UserStore(args.db).add(args.name, password, args.role)
    print(f"added {user.name} ({user.role})")
    return 0


def _users_list(args: argparse.Namespace) -> int:
    from flexaqa.web.users import UserStore

    for u in UserStore(args.db).list():
        print(f"{u.name}\t{u.role}")
    return 0
