"""Serve the console on 127.0.0.1 with waitress; the address it prints carries the token."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from exporter.home import Home
from publisher.preview import PreviewServer

from .app import create_app


@dataclass
class Console:
    """A started console: its server, app and the address with the token."""

    server: PreviewServer
    app: Any
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/?token={self.token}"

    def stop(self) -> None:
        self.server.stop()


def start(home: Home, port: int = 0, token: str | None = None) -> Console:
    """Bind 127.0.0.1:``port`` (0: a free one) and serve the console in a thread."""
    token = token or secrets.token_urlsafe(32)
    app = create_app(home, token)
    server = PreviewServer(app, port=port, threads=6, ident="chartseal-console")
    app.config["CONSOLE_PORT"] = server.port
    server.start()
    return Console(server, app, token)
