"""A preview server for an exported site folder: the same headers a CDN should send.

Static files only (GET/HEAD), no directory listing, nothing outside the site folder.
Other WSGI apps (the notes endpoint) can be mounted under a path prefix such as ``/v1/``.
"""
from __future__ import annotations

import functools
import hashlib
import html
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from site_templates.build import csp as default_csp

from .content import IMMUTABLE_CACHE, POINTER_CACHE, content_type, is_hashed

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

META_CSP = re.compile(
    rb"""<meta\s+http-equiv=["']?Content-Security-Policy["']?\s+content=(?:"([^"]*)"|'([^']*)')""", re.I
)
# Header-only directives: a meta tag cannot carry them.
HEADER_ONLY_CSP = "frame-ancestors 'none'"
SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]


def _plain(start_response: Callable[..., Any], status: str, text: str,
           extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = (text + "\n").encode("utf-8")
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
               ("Cache-Control", "no-store"), *SECURITY_HEADERS, *(extra or [])]
    start_response(status, headers)
    return [body]


@functools.lru_cache(maxsize=256)
def _page_csp(path: str, mtime_ns: int) -> str | None:
    """The policy a page declares in its meta tag; the header repeats it exactly, so the
    two never disagree (two policies are both enforced: a narrower header would win)."""
    m = META_CSP.search(Path(path).read_bytes()[:8192])
    return html.unescape((m.group(1) or m.group(2) or b"").decode("utf-8")) if m else None


def _csp_for(site: Path, file: Path) -> str:
    page = file if file.suffix == ".html" else site / "index.html"
    policy = None
    if page.is_file():
        policy = _page_csp(str(page), page.stat().st_mtime_ns)
    return f"{policy or default_csp()}; {HEADER_ONLY_CSP}"


def _resolve(site: Path, path_info: str) -> Path | None:
    """Map a URL path to a file under ``site``; ``None`` for anything that tries to leave it."""
    parts = path_info.split("/")
    if any(p in (".", "..") or "\\" in p or "\0" in p or ":" in p for p in parts):
        return None
    target = (site / "/".join(p for p in parts if p)).resolve()
    if target != site and site not in target.parents:
        return None  # a symlink pointing outside the site folder
    return target


class SiteApp:
    """WSGI app serving one site folder."""

    def __init__(self, site_dir: Path) -> None:
        self.site = Path(site_dir).resolve()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", "method not allowed",
                          [("Allow", "GET, HEAD")])
        raw = environ.get("PATH_INFO", "/") or "/"
        try:
            path_info = raw.encode("latin-1").decode("utf-8")  # WSGI hands bytes as latin-1
        except UnicodeError:
            return _plain(start_response, "400 Bad Request", "bad path")
        target = _resolve(self.site, path_info)
        if target is None:
            return _plain(start_response, "400 Bad Request", "bad path")
        if target.is_dir():
            if not path_info.endswith("/"):
                # Pages use relative URLs (../assets/...): they only work under the slash.
                query = environ.get("QUERY_STRING", "")
                location = path_info + "/" + (f"?{query}" if query else "")
                return _plain(start_response, "301 Moved Permanently", "moved", [("Location", location)])
            target = target / "index.html"
        if not target.is_file():
            return _plain(start_response, "404 Not Found", "not found")
        return self._file(environ, start_response, target, method == "HEAD")

    def _file(self, environ: dict[str, Any], start_response: Callable[..., Any], file: Path,
              head: bool) -> Iterable[bytes]:
        rel = file.relative_to(self.site).as_posix()
        st = file.stat()
        etag = '"' + hashlib.blake2b(f"{st.st_size}-{st.st_mtime_ns}".encode(), digest_size=8).hexdigest() + '"'
        headers = [
            ("Content-Type", content_type(rel)),
            ("Cache-Control", IMMUTABLE_CACHE if is_hashed(rel) else POINTER_CACHE),
            ("ETag", etag),
            ("Content-Security-Policy", _csp_for(self.site, file)),
            *SECURITY_HEADERS,
        ]
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", headers)
            return []
        data = b"" if head else file.read_bytes()
        headers.append(("Content-Length", str(st.st_size)))
        start_response("200 OK", headers)
        return [data]


def make_app(site_dir: Path | str, extra_mounts: Mapping[str, WSGIApp] | None = None) -> WSGIApp:
    """The site folder at ``/``, plus each ``prefix -> app`` (e.g. ``{"/v1/": notes_app}``)."""
    site_app = SiteApp(Path(site_dir))
    mounts = sorted(((p.rstrip("/"), app) for p, app in (extra_mounts or {}).items()),
                    key=lambda m: -len(m[0]))

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        for prefix, mounted in mounts:
            if path == prefix or path.startswith(prefix + "/"):
                sub = dict(environ)
                sub["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                sub["PATH_INFO"] = path[len(prefix):]
                return mounted(sub, start_response)
        return site_app(environ, start_response)

    return app


class PreviewServer:
    """A waitress server on 127.0.0.1 in a background thread (tests, ``chartseal demo``)."""

    def __init__(self, app: WSGIApp, port: int = 0, threads: int = 8, **options: Any) -> None:
        import waitress.server

        options.setdefault("asyncore_loop_timeout", 0.1)
        self.server = waitress.server.create_server(app, host="127.0.0.1", port=port,
                                                    threads=threads, **options)
        self.port = int(self.server.effective_port)  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.run, name="chartseal-preview", daemon=True)

    def start(self) -> "PreviewServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        from waitress import wasyncore

        if self._thread.is_alive():
            # Close the sockets from inside the server's own loop: closing them from this
            # thread races with its select() ("bad file descriptor"). The loop then ends
            # because its map is empty.
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
            self._thread.join(timeout=5)
        else:
            self.server.close()
        self.server.task_dispatcher.shutdown()

    def __enter__(self) -> "PreviewServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
