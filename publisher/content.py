"""Content-Type and Cache-Control of each published object."""
from __future__ import annotations

import posixpath

from exporter import plan

IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
# Pointers change in place: browsers and CDNs must revalidate them every time.
POINTER_CACHE = "no-cache"

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".bin": "application/octet-stream",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}


def content_type(name: str) -> str:
    return TYPES.get(posixpath.splitext(name)[1].lower(), "application/octet-stream")


def cache_control(name: str, kind: str) -> str:
    if kind == plan.IMMUTABLE and is_hashed(name):
        return IMMUTABLE_CACHE
    return POINTER_CACHE


def is_hashed(name: str) -> bool:
    """Only content-named objects may be cached forever (a guard against a mislabelled plan)."""
    return name.startswith("assets/") or "/obj/" in name
