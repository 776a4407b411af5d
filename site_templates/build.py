"""The app's static files with content-hashed names, and the Content-Security-Policy.

There is no bundler: ES modules import each other by relative path (``"./ui.js"``), CSS
refers to icons by ``url("./child.svg")``. Hashed names mean those references must be
rewritten, so files are hashed leaves first: a file's hash covers the hashed names of
everything it refers to, and a change anywhere renames every file that depends on it.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from . import ROOT, libsodium
from .libsodium import AssetError, node_modules

__all__ = ["AssetError", "Assets", "build_assets", "csp", "features_module", "node_modules",
           "strings_module"]

STATIC = ROOT / "static"
# The wrappers import the core by its package name; browsers without an import map need a
# relative URL (an import map would be an inline script, which the CSP forbids).
BARE_IMPORTS = {"libsodium-sumo": "./libsodium-sumo.mjs"}
STATIC_EXTS = {".js", ".mjs", ".css", ".svg", ".png", ".ico", ".webmanifest"}

REF = re.compile(r"""(["'(])\./([A-Za-z0-9_-][A-Za-z0-9_.-]*)(["')])""")


def csp(connect_src: Sequence[str] = ()) -> str:
    """The policy every page carries (meta tag) and ``chartseal serve`` repeats as a header.

    'wasm-unsafe-eval' is there because libsodium.js compiles its WebAssembly at run time;
    it allows WebAssembly compilation only, not eval of JavaScript.
    """
    for origin in connect_src:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d+)?", origin):
            raise AssetError(f"connect-src origin must look like https://host[:port], got {origin!r}")
    connect = " ".join(["'self'", *connect_src])
    return (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
        f"img-src 'self'; connect-src {connect}; worker-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )


def _libsodium_sources() -> dict[str, bytes]:
    out = {}
    for name, data in libsodium.sources().items():
        for bare, local in BARE_IMPORTS.items():
            data = re.sub(rb"""from\s*(["'])""" + re.escape(bare.encode()) + rb"\1",
                          b'from"' + local.encode() + b'"', data)
        out[name] = data
    return out


def _static_sources() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in sorted(STATIC.rglob("*")):
        if not path.is_file() or path.suffix not in STATIC_EXTS:
            continue
        if path.name in out:
            raise AssetError(f"two static files are named {path.name}; asset names must be unique")
        out[path.name] = path.read_bytes()
    return out


def strings_module(tables: Mapping[str, Mapping[str, str]]) -> bytes:
    """``strings.js``: the i18n JSON files as one ES module, so JS and Jinja2 share them."""
    body = json.dumps(tables, ensure_ascii=False, sort_keys=True, indent=1)
    return (
        "// Generated from site_templates/i18n/*.json by chartseal; edit those files.\n"
        f"export default {body};\n"
    ).encode("utf-8")


@dataclass
class Assets:
    files: dict[str, bytes] = field(default_factory=dict)  # hashed name -> bytes
    names: dict[str, str] = field(default_factory=dict)  # logical name -> hashed name
    refs: dict[str, list[str]] = field(default_factory=dict)  # logical name -> names it refers to

    def hashed(self, name: str) -> str:
        try:
            return self.names[name]
        except KeyError:
            raise AssetError(f"no static file named {name!r} in site_templates/static") from None

    def modules(self, entry: str) -> list[str]:
        """Hashed names of every script ``entry`` loads, directly or not (for modulepreload,
        so the browser fetches the whole graph at once instead of level by level)."""
        seen: list[str] = []
        todo = [entry]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.append(name)
            todo += [r for r in self.refs.get(name, []) if r.endswith((".js", ".mjs"))]
        return [self.names[n] for n in seen[1:]]


def _refs(data: bytes, known: Mapping[str, bytes]) -> list[str]:
    text = data.decode("utf-8", "replace")
    return [m.group(2) for m in REF.finditer(text) if m.group(2) in known]


def _order(sources: Mapping[str, bytes]) -> list[str]:
    """Leaves first; a reference cycle cannot be hashed and is an error."""
    done: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise AssetError("static files refer to each other in a cycle: " + " -> ".join(chain + (name,)))
        state[name] = 1
        for dep in _refs(sources[name], sources):
            if dep != name:
                visit(dep, chain + (name,))
        state[name] = 2
        done.append(name)

    for name in sorted(sources):
        visit(name, ())
    return done


def features_module(static: Mapping[str, bytes]) -> bytes:
    """``features.js``: optional parts of the app, loaded only when their file exists, so the
    pages never request a module that is not there."""
    notes = "() => import('./notes.js')" if "notes.js" in static else "null"
    return (
        "// Generated by chartseal: optional app modules present in this build.\n"
        f"export const loadNotes = {notes};\n"
    ).encode("utf-8")


def build_assets(tables: Mapping[str, Mapping[str, str]]) -> Assets:
    static = _static_sources()
    sources = {**static, **_libsodium_sources(), "strings.js": strings_module(tables),
               "features.js": features_module(static)}
    assets = Assets()
    for name in _order(sources):
        data = sources[name]
        assets.refs[name] = sorted(set(_refs(data, sources)) - {name})
        text_like = name.rsplit(".", 1)[-1] in ("js", "mjs", "css", "svg")
        if text_like:
            def swap(m: re.Match[str]) -> str:
                ref = m.group(2)
                return m.group(1) + "./" + assets.names.get(ref, ref) + m.group(3)

            data = REF.sub(swap, data.decode("utf-8")).encode("utf-8")
        stem, ext = name.rsplit(".", 1)
        hashed = f"{stem}.{hashlib.sha256(data).hexdigest()[:8]}.{ext}"
        assets.names[name] = hashed
        assets.files[hashed] = data
    return assets
