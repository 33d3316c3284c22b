"""``gongzhi platform`` (serve the API and pages, over HTTPS when given a certificate),
``gongzhi tokens init`` and ``gongzhi tokens hash``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from gongzhi.core.cli import add_settings_options, settings_from_args
from gongzhi.core.settings import Settings
from gongzhi.hub.duty_parse import load_matrix
from gongzhi.hub.tls import TlsFiles, server_tls
from gongzhi.hub.tokens import hash_token_file, load_tokens, new_tokens, write_tokens

PLATFORM_SETTINGS = ("http_host", "http_port", "http_tls_cert", "http_tls_key", "trusted_proxies",
                     "database_url", "registry", "tokens_file", "duty_matrix", "gateway_token",
                     "data_dir", "log_level")


def add_parsers(sub: Any) -> None:
    platform = sub.add_parser(
        "platform", help="serve the ticket API, server push and the pages",
        description="Serve the platform: alarms from the gateway become tickets routed by the "
                    "duty matrix to the parties of the 1+6 model; escalation runs in the "
                    "background. Needs a tokens file (see `gongzhi tokens init`). Serves HTTPS "
                    "when given a certificate and its key (see scripts/make-certs.sh).")
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

    hashed = tokens_sub.add_parser(
        "hash", help="write the hashed form of a tokens file, for the server",
        description="Read a tokens file and write its hashed form {party_id: 'sha256:<hex>'}: "
                    "the platform accepts it in place of the tokens, so the server need not keep "
                    "them. The parties keep their tokens; a gateway using a hashed file needs "
                    "its own token in GONGZHI_GATEWAY_TOKEN.")
    hashed.add_argument("--out", type=Path, required=True,
                        help="where to write the hashed file (mode 0600)")
    hashed.add_argument("--force", action="store_true", help="replace an existing file")
    add_settings_options(hashed, "data_dir", "tokens_file")
    hashed.set_defaults(func=run_tokens_hash)


def check_config(settings: Settings) -> TlsFiles | None:
    """Fail before serving when a file is unusable (exit code 2 with file and line); the HTTPS
    files when the platform is to serve HTTPS."""
    load_tokens(settings.tokens_path, settings.gateway_token)
    load_matrix(settings.duty_matrix)
    return server_tls(settings)


def forwarded_headers(settings: Settings) -> dict[str, Any]:
    """Uvicorn's handling of X-Forwarded-For and X-Forwarded-Proto: believed only from the
    configured proxies. Uvicorn's own default trusts 127.0.0.1 (and FORWARDED_ALLOW_IPS), so a
    local client could pick the address the authentication limiter counts it under."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}


def run_platform(args: argparse.Namespace) -> int:
    import uvicorn

    from gongzhi.hub.app import create_app

    settings = settings_from_args(args)
    logging.getLogger().setLevel(settings.log_level.upper())
    tls = check_config(settings)
    app = create_app(settings)
    scheme = "https" if tls else "http"
    proxies = settings.trusted_proxies or "none"
    print(f"gongzhi platform on {scheme}://{settings.http_host}:{settings.http_port}/ "
          f"(tokens: {settings.tokens_path}; forwarded headers believed from: {proxies})",
          flush=True)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port,
                log_level=settings.log_level.lower(), timeout_graceful_shutdown=3,
                ssl_certfile=tls.cert if tls else None, ssl_keyfile=tls.key if tls else None,
                **forwarded_headers(settings))
    return 0


def run_tokens_init(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    path: Path = args.out or settings.tokens_path
    write_tokens(path, new_tokens(), force=args.force)
    print(f"tokens written to {path.resolve()}")
    return 0


def run_tokens_hash(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    hashed = hash_token_file(settings.tokens_path)
    write_tokens(args.out, hashed, force=args.force)
    print(f"hashed tokens of {len(hashed)} principals written to {args.out.resolve()} "
          f"(from {settings.tokens_path.resolve()})")
    return 0
