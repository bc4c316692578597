"""The ``azfunc-telemetry`` command: run a local telemetry sink, query it with KQL, see a demo.

``azfunc-telemetry sink`` starts a loopback ingestion endpoint that stores telemetry in SQLite,
``azfunc-telemetry query 'traces | take 10'`` reads it back with the same KQL one would type in
the Application Insights portal, ``azfunc-telemetry ui`` shows it in a browser (invocations, a
concurrency timeline, a KQL box), and ``azfunc-telemetry demo`` shows it all with a sample app.
``python -m azfunc_telemetry`` is the same command.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sqlite3
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from azfunc_telemetry.local.sink import DEFAULT_PORT, TelemetrySink
from azfunc_telemetry.local.store import TelemetryStore
from azfunc_telemetry.local.viewer import (
    DEFAULT_UI_PORT,
    RemoteBindRefusedError,
    ViewerServer,
    is_loopback,
)

__all__ = ["DB_ENV_VAR", "DEFAULT_DB", "build_parser", "main"]

DB_ENV_VAR = "AZFUNC_TELEMETRY_DB"
"""Environment variable naming the database when ``--db`` is not given."""

DEFAULT_DB = "./azfunc-telemetry.db"
"""Database used when neither ``--db`` nor :data:`DB_ENV_VAR` is given."""

_EXIT_OK = 0
_EXIT_FAILURE = 1
_EXIT_QUERY_ERROR = 2


def _default_db() -> str:
    return os.environ.get(DB_ENV_VAR) or DEFAULT_DB


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(
        prog="azfunc-telemetry",
        description="Local Application Insights tooling for Azure Functions Python apps.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db_help = f"SQLite database (default: ${DB_ENV_VAR} or {DEFAULT_DB})"

    sink = commands.add_parser(
        "sink", help="receive telemetry on a local endpoint and store it in SQLite"
    )
    sink.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    sink.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port, 0 for any (default: %(default)s)"
    )
    sink.add_argument("--db", default=None, help=db_help)
    sink.set_defaults(handler=_run_sink)

    query = commands.add_parser("query", help="run a KQL query against stored telemetry")
    query.add_argument("kql", metavar="KQL", help="the query, e.g. 'traces | take 10'")
    query.add_argument("--db", default=None, help=db_help)
    query.add_argument("--json", action="store_true", help="print {columns, rows} as JSON")
    query.set_defaults(handler=_run_query)

    ui = commands.add_parser(
        "ui", help="serve a local web page over stored telemetry (invocations, timeline, KQL)"
    )
    ui.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    ui.add_argument(
        "--port",
        type=int,
        default=DEFAULT_UI_PORT,
        help="port, 0 for any (default: %(default)s)",
    )
    ui.add_argument("--db", default=None, help=db_help)
    ui.add_argument(
        "--allow-remote",
        action="store_true",
        help="serve on a non-loopback --host (anyone reaching it reads every log message)",
    )
    ui.set_defaults(handler=_run_ui)

    demo = commands.add_parser("demo", help="run a sample app against a local sink and query it")
    demo.add_argument("--db", default=None, help="database to use (default: a temporary file)")
    demo.add_argument("--keep", action="store_true", help="keep the database afterwards")
    demo.set_defaults(handler=_run_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = build_parser().parse_args(argv)
    status: int = args.handler(args)
    return status


def _run_sink(args: argparse.Namespace) -> int:
    db_path = args.db or _default_db()
    try:
        sink = TelemetrySink(db_path, host=args.host, port=args.port)
    except sqlite3.Error as error:
        print(f"azfunc-telemetry: cannot open {db_path}: {error}", file=sys.stderr)
        return _EXIT_FAILURE
    except OSError as error:
        where = f"{args.host}:{args.port}"
        print(f"azfunc-telemetry: cannot listen on {where}: {error}", file=sys.stderr)
        return _EXIT_FAILURE
    print(sink.connection_string, flush=True)
    print(
        "Set APPLICATIONINSIGHTS_CONNECTION_STRING to the line above to send telemetry here "
        f"(stored in {os.path.abspath(db_path)}; Ctrl+C stops).",
        flush=True,
    )
    print(f"See it in a browser: {_ui_hint(db_path)}", flush=True)
    sink.run()
    print(f"azfunc-telemetry: sink stopped; {sink.rows_stored} rows stored", file=sys.stderr)
    return _EXIT_OK


def _ui_hint(db_path: str) -> str:
    """The command that serves the viewer over ``db_path``, and the page it serves."""
    return (
        f"azfunc-telemetry ui --db {shlex.quote(db_path)}  "
        f"(then open http://127.0.0.1:{DEFAULT_UI_PORT}/)"
    )


def _run_ui(args: argparse.Namespace) -> int:
    db_path = args.db or _default_db()
    if args.allow_remote and not is_loopback(args.host):
        print(
            f"azfunc-telemetry: WARNING: serving telemetry on {args.host}; anyone who can reach "
            "it reads every stored log message. Prefer the default 127.0.0.1.",
            file=sys.stderr,
        )
    try:
        server = ViewerServer(
            db_path, host=args.host, port=args.port, allow_remote=args.allow_remote
        )
    except RemoteBindRefusedError as error:
        print(f"azfunc-telemetry: {error}", file=sys.stderr)
        return _EXIT_FAILURE
    except OSError as error:
        print(
            f"azfunc-telemetry: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr
        )
        return _EXIT_FAILURE
    if not os.path.exists(db_path):
        print(
            f"azfunc-telemetry: no telemetry database at {db_path} yet; the page shows it once "
            "`azfunc-telemetry sink` has written it",
            file=sys.stderr,
        )
    print(f"Viewer for {os.path.abspath(db_path)}: {server.url}", flush=True)
    print("(read-only; Ctrl+C stops)", flush=True)
    server.run()
    return _EXIT_OK


def _run_query(args: argparse.Namespace) -> int:
    db_path = args.db or _default_db()
    if not os.path.exists(db_path):
        print(
            f"azfunc-telemetry: no telemetry database at {db_path}; "
            "start `azfunc-telemetry sink` first or pass --db",
            file=sys.stderr,
        )
        return _EXIT_FAILURE
    try:
        kql = importlib.import_module("azfunc_telemetry.local.kql")
    except ImportError as error:
        print(f"azfunc-telemetry: KQL support is unavailable: {error}", file=sys.stderr)
        return _EXIT_FAILURE
    try:
        with TelemetryStore(db_path) as store:
            result = kql.run_query(args.kql, store)
    except kql.KqlError as error:
        _print_query_error(args.kql, str(error), int(getattr(error, "position", 0)))
        return _EXIT_QUERY_ERROR
    except sqlite3.Error as error:
        print(f"azfunc-telemetry: cannot read {db_path}: {error}", file=sys.stderr)
        return _EXIT_FAILURE
    if args.json:
        document = {"columns": list(result.columns), "rows": [list(row) for row in result.rows]}
        print(json.dumps(document, default=_json_value, ensure_ascii=False))
    else:
        print(kql.format_table(result))
    return _EXIT_OK


def _print_query_error(text: str, message: str, position: int) -> None:
    """Show the message, then the offending query line with a caret under the position."""
    position = max(0, min(position, len(text)))
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    line = text[line_start : line_end if line_end != -1 else len(text)]
    print(f"azfunc-telemetry: {message}", file=sys.stderr)
    print(f"  {line}", file=sys.stderr)
    print("  " + " " * (position - line_start) + "^", file=sys.stderr)


def _json_value(value: Any) -> Any:
    """Encode what ``json`` cannot: times as ISO-8601 (UTC with ``Z``), spans as text."""
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() == timedelta(0):
            return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _run_demo(args: argparse.Namespace) -> int:
    try:
        demo = importlib.import_module("azfunc_telemetry.local.demo")
    except ImportError as error:
        print(f"azfunc-telemetry: the demo is unavailable: {error}", file=sys.stderr)
        return _EXIT_FAILURE
    status: int = demo.main(args.db, args.keep)
    if not args.db and not args.keep:
        print(
            "Run `azfunc-telemetry demo --db demo.db` to keep the telemetry and see it in a "
            "browser with `azfunc-telemetry ui --db demo.db`.",
            flush=True,
        )
    return status
