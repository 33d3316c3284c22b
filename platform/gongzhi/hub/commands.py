"""``gongzhi platform`` (serve the API and pages) and ``gongzhi tokens init``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from gongzhi.core.cli import add_settings_options, settings_from_args
from gongzhi.core.settings import Settings
from gongzhi.hub.duty import load_matrix
from gongzhi.hub.tokens import load_tokens, new_tokens, write_tokens

PLATFORM_SETTINGS = ("http_host", "http_port", "database_url", "registry", "tokens_file",
                     "duty_matrix", "gateway_token", "data_dir", "log_level")


def add_parsers(sub: Any) -> None:
    platform = sub.add_parser(
        "platform", help="serve the ticket API, server push and the pages",
        description="Serve the platform: alarms from the gateway become tickets routed by the "
                    "duty matrix to the parties of the 1+6 model; escalation runs in the "
                    "background. Needs a tokens file (see `gongzhi tokens init`).")
    add_settings_options(platform, *PLATFORM_SETTINGS)
    platform.set_defaults(func=run_platform)

    tokens = sub.add_parser("tokens", help="manage the parties' API tokens",
                            description="Manage the bearer tokens of the six parties and the "
                                        "gateway.")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    init = tokens_sub.add_parser(
        "init", help="write a tokens file with fresh random tokens",
        description="Write a tokens file {party_id: token} with fresh random tokens for the six "
                    "parties and the gateway (file mode 0600) and print where it is.")
    init.add_argument("--out", type=Path, default=None,
                      help="where to write (default: the tokens file setting, i.e. "
                           "GONGZHI_TOKENS_FILE or tokens.json in the data directory)")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    add_settings_options(init, "data_dir", "tokens_file")
    init.set_defaults(func=run_tokens_init)


def check_config(settings: Settings) -> None:
    """Fail before serving when a file is unusable (exit code 2 with file and line)."""
    load_tokens(settings.tokens_path, settings.gateway_token)
    load_matrix(settings.duty_matrix)


def run_platform(args: argparse.Namespace) -> int:
    import uvicorn

    from gongzhi.hub.app import create_app

    settings = settings_from_args(args)
    logging.getLogger().setLevel(settings.log_level.upper())
    check_config(settings)
    app = create_app(settings)
    print(f"gongzhi platform on http://{settings.http_host}:{settings.http_port}/ "
          f"(tokens: {settings.tokens_path})", flush=True)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port,
                log_level=settings.log_level.lower(), timeout_graceful_shutdown=3)
    return 0


def run_tokens_init(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    path: Path = args.out or settings.tokens_path
    write_tokens(path, new_tokens(), force=args.force)
    print(f"tokens written to {path.resolve()}")
    return 0
