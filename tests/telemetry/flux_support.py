"""A loopback InfluxDB 2 query endpoint for the tests of what reads InfluxDB (the telemetry
reader, the backtest): no InfluxDB runs; a real HTTP server on 127.0.0.1 answers each Flux query
as InfluxDB does, with annotated CSV (or an error in JSON), and keeps what it was asked."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

Answer = tuple[int, str]  # HTTP status, body


class FluxPeer:
    """Answers every ``POST /api/v2/query`` with ``respond(query)``, by default with ``answer``
    (empty: what InfluxDB answers when nothing matched), and keeps the queries it was sent and
    the paths they were sent to (the organisation is in the path's query string)."""

    def __init__(self, respond: Callable[[str], Answer] | None = None) -> None:
        self.queries: list[str] = []
        self.paths: list[str] = []
        self.answer: Answer = (200, "\r\n")
        self.respond = respond if respond is not None else (lambda _query: self.answer)
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))["query"]
                peer.queries.append(query)
                peer.paths.append(self.path)
                status, text = peer.respond(query)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/csv; charset=utf-8" if status == 200
                                 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FluxPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
