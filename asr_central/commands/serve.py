"""`asr-central serve`: run the central API under uvicorn.

Binds loopback by default; any other address needs `--allow-remote` (put TLS in front).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path

DEFAULT_DB = "sqlite:///asr-central.db"
ADMIN_TOKEN_ENV = "ASR_CENTRAL_ADMIN_TOKEN"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the central API (loopback unless told otherwise)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8800, help="TCP port (default 8800)")
    p.add_argument("--admin-token-file", type=Path,
                   help=f"file holding the admin bearer token (or set {ADMIN_TOKEN_ENV}); "
                        "without either the admin API is disabled")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow binding a non-loopback address (terminate TLS in front of it)")
    p.add_argument("--ssl-certfile", type=Path, help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", type=Path, help="private key for --ssl-certfile (PEM)")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost could resolve anywhere


def check_bind(host: str, allow_remote: bool) -> None:
    from asr_agent.errors import ConfigError

    if not is_loopback(host) and not allow_remote:
        raise ConfigError(f"refusing to listen on {host}: not a loopback address; pass "
                          "--allow-remote (and put TLS in front) to serve other machines",
                          key="--host")


def read_admin_token(path: Path | None) -> str | None:
    from asr_agent.errors import ConfigError

    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the admin token: {exc.strerror}", path=str(path)) from exc
        if len(token) < 16:
            raise ConfigError("the admin token is shorter than 16 characters; use a long random one",
                              path=str(path))
        return token
    return os.environ.get(ADMIN_TOKEN_ENV) or None


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from asr_central.app import create_app

    check_bind(args.host, args.allow_remote)
    app = create_app(args.db, admin_token=read_admin_token(args.admin_token_file))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                ssl_certfile=str(args.ssl_certfile) if args.ssl_certfile else None,
                ssl_keyfile=str(args.ssl_keyfile) if args.ssl_keyfile else None,
                ws="none", server_header=False)
    return 0
