"""Browser benchmark: the portal in headless Chromium against exported sites on 127.0.0.1.

    .venv/bin/python bench/browser_bench.py                    # 10,000 and 50,000 patients, 5 runs
    .venv/bin/python bench/browser_bench.py --patients 2000 --runs 3
    .venv/bin/python bench/browser_bench.py --patients 50000 --sites bench/out/sites --doctor-only

Measures (targets from DESIGN.md and issue 15):
- patient page: submit -> record painted, against the bare Argon2id time in the same browser
  (64 MiB, 3 passes; target: + 150 ms at most), with the patient's and the general password;
- bytes a first visit downloads to open one patient page (app and data apart);
- doctor list of N patients, from the key derived: the first rows painted (the first index
  shard in; target < 1 s) and the whole list painted (every shard in, sorted; target < 2 s);
- search per keystroke over N patients: input event -> rows painted (target p95 < 50 ms).
The large sites use weak Argon2id so their export is quick; the list timings start after
the key is derived, so the KDF cost does not enter them. Generating and exporting 50,000
patients takes minutes: with --sites DIR each site is made once and reused from DIR.

The site is served by the portal's own WSGI app (`chartseal serve`'s, same bytes and headers)
under a threaded server in a process of its own, which counts the object requests: a CDN
costs the doctor's machine nothing, while waitress in this process took 0.9-1.7 s of CPU
per 50,000-patient login on the same 2 cores, and Playwright's request events more
(docs/PORTAL.md, Performance). `--server waitress` measures the old way. `--cpu` adds the
CPU each process (and each renderer thread) used during the logins (Linux).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"  # only the large list site uses weak parameters

from browser import CHROMIUM, CHROMIUM_ARGS, serve_site, wait_state  # noqa: E402
from exporter import access, crypto, keystore, render  # noqa: E402
from exporter.home import load_home  # noqa: E402
from exporter.site import export_site  # noqa: E402
from export_bench import make_home  # noqa: E402  (this folder: the same demo home as the export bench)

MARKS = "JSON.stringify(Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime])))"


def make_site(tmp: Path, patients: int, params: crypto.KdfParams) -> dict:
    """An exported demo clinic of ``patients`` in ``tmp``; one made before (same folder,
    finished export) is reused as it is."""
    done = tmp / "exported"
    export_s = float(done.read_text()) if done.exists() else None
    if export_s is None:
        if tmp.exists():
            shutil.rmtree(tmp)  # an unfinished one: start again
        tmp.mkdir(parents=True)
        home, _ = make_home(tmp, patients, params, seed=3)
        start = time.perf_counter()
        export_site(home)
        export_s = time.perf_counter() - start
        done.write_text(f"{export_s:.1f}")
    home = load_home(tmp / "home")
    refresh_app(home)
    conn = keystore.connect(home.keys_path)
    card = conn.execute("SELECT card FROM patients ORDER BY card LIMIT 1").fetchone()[0]
    info = {
        "home": home, "card": card, "patient_pw": access.patient_password(conn, card),
        "general": keystore.get_text(conn, "general_password"),
        "login": keystore.get_text(conn, "login_password"),
        "admin": keystore.get_text(conn, "admin_password"), "export_s": export_s,
    }
    conn.close()
    return info


def refresh_app(home) -> None:
    """This checkout's portal app in the site folder (pages and hashed assets), as an export
    writes it: a site made by an earlier run is measured with the app as it is now."""
    for name, data in render.app_files(home.config["lang"], []).items():
        path = home.site_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def bare_argon2id(page, params: crypto.KdfParams) -> float:
    """Argon2id alone, with the page's own libsodium build, on the page's main thread."""
    sodium_url = page.eval_on_selector('link[rel=modulepreload][href*="/sodium."]', "l => l.href")
    return page.evaluate(
        """async ([url, ops, mem]) => {
            const C = await (await import(url)).loadCrypto();
            const salt = C.generalSalt('0000000000');
            const t0 = performance.now();
            C.deriveDoor(C.passwordBytes('bench password'), salt, { ops, mem });
            return performance.now() - t0;
        }""",
        [sodium_url, params.ops, params.mem],
    )


def bytes_by_kind(page) -> dict:
    entries = page.evaluate(
        "performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".map(e => [e.name, e.transferSize, e.encodedBodySize])")
    out = {"app": 0, "data": 0, "requests": len(entries)}
    for name, transfer, _body in entries:
        # transferSize is 0 for a cache hit (the KDF worker's second load of libsodium)
        out["data" if "/c/" in name else "app"] += transfer
    return out


def patient_runs(browser, site: dict, url: str, runs: int, password: str) -> list[dict]:
    home = site["home"]
    results = []
    for _ in range(runs):
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/patient/?c={home.clinic_id}")
        wait_state(page, "login")
        page.wait_for_load_state("networkidle")
        bare = bare_argon2id(page, home.kdf)
        page.fill("#card", site["card"])
        page.fill("#password", password)
        page.click("#go")
        assert wait_state(page, "ready", "error") == "ready", page.inner_text("#login-error")
        page.wait_for_function("() => performance.getEntriesByName('chartseal:record-painted').length > 0")
        marks = json.loads(page.evaluate(MARKS))
        results.append({
            "open_ms": marks["chartseal:record-painted"] - marks["chartseal:submit"],
            "bare_ms": bare, "bytes": bytes_by_kind(page),
        })
        context.close()
    return results


class Counted:
    """The site's WSGI app, counting the requests for objects (``obj/``) since the last look at
    ``COUNT_PATH``, which answers that count."""

    COUNT_PATH = "/bench-count"

    def __init__(self, app) -> None:
        self.app, self.objects = app, 0

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == self.COUNT_PATH:
            body, self.objects = str(self.objects).encode(), 0
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        if "/obj/" in path:
            self.objects += 1
        return self.app(environ, start_response)


def serve_forever(site_dir: Path) -> None:
    """Serve ``site_dir`` on a free port of 127.0.0.1 (printed first) until killed."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from publisher.preview import make_app

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Handler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a browser talks to a CDN

        def log_message(self, *args) -> None:
            pass

    server = make_server("127.0.0.1", 0, Counted(make_app(site_dir, {})), server_class=Server, handler_class=Handler)
    print(server.server_port, flush=True)
    server.serve_forever()


class ServerProcess:
    """``serve_forever`` in a child process: ``url``, ``objects()`` (requests since the last
    call), ``pid`` and ``stop()``."""

    def __init__(self, site_dir: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(site_dir)], stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"

    def objects(self) -> int:
        from urllib.request import urlopen

        with urlopen(self.url + Counted.COUNT_PATH) as res:
            return int(res.read())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class WaitressServer:
    """The preview server in this process (as ``chartseal serve``), objects counted by
    Playwright's request events."""

    def __init__(self, site_dir: Path) -> None:
        self.server = serve_site(site_dir)
        self.url, self.pid, self.seen = self.server.url, os.getpid(), []

    def watch(self, context) -> None:
        context.on("request", lambda req: self.seen.append(req.url) if "/obj/" in req.url else None)

    def objects(self) -> int:
        n, self.seen = len(self.seen), []
        return n

    def stop(self) -> None:
        self.server.stop()


def cpu_ticks(server_pid: int) -> dict[str, int]:
    """Clock ticks used so far, by process kind (Chromium's by --type) and by renderer thread."""
    out: dict[str, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        kind = None
        if int(pid) == server_pid:
            kind = "server"
        elif "chromium" in cmd:
            sub = re.search(r"--utility-sub-type=([\w.]+)", cmd) or re.search(r"--type=([\w-]+)", cmd)
            kind = "chromium " + (sub.group(1).split(".")[0] if sub else "browser")
        elif "playwright" in cmd and "node" in cmd:
            kind = "playwright driver"
        elif int(pid) == os.getpid():
            kind = "bench (python)"
        if kind is None:
            continue
        for tid in tasks:
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat.rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])
            out[kind] = out.get(kind, 0) + ticks
            if kind == "chromium renderer":
                thread = "main" if name == "chromium" else name
                out[f"  renderer {thread}"] = out.get(f"  renderer {thread}", 0) + ticks
    return out


def doctor_list(browser, site: dict, server, runs: int, queries: list[str], cpu: bool = False) -> list[dict]:
    home = site["home"]
    url = server.url
    out = []
    for _ in range(runs):
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(300_000)
        if isinstance(server, WaitressServer):
            server.watch(context)
        page.goto(f"{url}/doctor/")
        wait_state(page, "login")
        page.fill("#clinic", home.clinic_id)
        page.fill("#login-password", site["login"])
        page.fill("#user", "admin")
        page.fill("#user-password", site["admin"])
        page.wait_for_load_state("networkidle")
        server.objects()  # from here on: the login's
        before = cpu_ticks(server.pid) if cpu else {}
        load = os.getloadavg()[0]
        page.click("#go")
        # Polled every 250 ms, not every frame: a frame-by-frame poll makes the page paint
        # (and lay out) all along the load it measures.
        page.wait_for_function("() => performance.getEntriesByName('chartseal:list-painted').length > 0"
                               " || document.body.dataset.state === 'error'", polling=250)
        used = {k: v - before.get(k, 0) for k, v in cpu_ticks(server.pid).items()} if cpu else {}
        assert wait_state(page, "ready", "error") == "ready", page.inner_text("#app-error")
        marks = json.loads(page.evaluate(MARKS))
        objects = server.objects()
        keystrokes = [t for q in queries for t in search_keystrokes(page, q)]
        out.append({"load": load, "first_ms": marks["chartseal:list-first-painted"] - marks["chartseal:kdf-end"],
                    "list_ms": marks["chartseal:list-painted"] - marks["chartseal:kdf-end"],
                    "rows": int(page.inner_text("#list-count").split("/")[1].replace(",", "")),
                    "objects": objects, "rendered": page.locator("#list li").count(), "search_ms": keystrokes,
                    "cpu_ms": {k: v * 1000 // os.sysconf("SC_CLK_TCK") for k, v in used.items() if v}})
        context.close()
    return out


def search_keystrokes(page, query: str) -> list[float]:
    """Type ``query`` one character at a time, then clear it; time each input event to the
    rows painted (the next frame after the handler)."""
    return page.evaluate(
        """async (query) => {
            const box = document.getElementById('search');
            const times = [];
            for (const text of [...query.split('').map((_, i) => query.slice(0, i + 1)), '']) {
                await new Promise((r) => setTimeout(r, 30)); // a typist's pause: the last count finishes
                const t0 = performance.now();
                box.value = text;
                box.dispatchEvent(new Event('input'));
                await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
                times.push(performance.now() - t0);
            }
            return times;
        }""",
        query,
    )


def summary(values: list[float]) -> str:
    p95 = sorted(values)[max(0, round(0.95 * len(values)) - 1)]
    return f"median {statistics.median(values):.0f} ms, p95 {p95:.0f} ms, max {max(values):.0f} ms"


def search_queries(site: dict) -> list[str]:
    """What a doctor types: a common name and a mobile prefix, a card, a full name of the
    last patient (whose row is in whichever shard it falls in)."""
    conn = sqlite3.connect(site["home"].databases["main"].path)
    card, first, surname = conn.execute(
        "SELECT card, first_name, surname FROM patients ORDER BY id DESC LIMIT 1").fetchone()
    conn.close()
    return ["ahmad 07", card.lower(), f"{first} {surname}".lower()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", default="10000,50000", help="list sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sites", type=Path, default=None, help="make each site once in this folder and reuse it")
    parser.add_argument("--doctor-only", action="store_true", help="skip the patient page runs (real Argon2id)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "browser.json")
    parser.add_argument("--server", choices=["threaded", "waitress"], default="threaded",
                        help="threaded: the site's app in a process of its own (default); waitress: in this process")
    parser.add_argument("--cpu", action="store_true", help="also report the CPU each process used per login (Linux)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the child process of ServerProcess
    args = parser.parse_args()
    if args.serve:
        serve_forever(args.serve)
        return
    start = ServerProcess if args.server == "threaded" else WaitressServer
    sizes = [int(n) for n in args.patients.split(",")]
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        where = args.sites or Path(tmp)
        small = None if args.doctor_only else make_site(Path(tmp) / "small", 5, crypto.KdfParams())  # real Argon2id
        large = {n: make_site(where / f"list-{n}", n, crypto.KdfParams(ops=1, mem=8192)) for n in sizes}
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        own = general = []
        lists = {}
        try:
            if small:
                server = start(small["home"].site_dir)
                own = patient_runs(browser, small, server.url, args.runs, small["patient_pw"])
                general = patient_runs(browser, small, server.url, args.runs, small["general"])
                server.stop()
            for n, site in large.items():
                server = start(site["home"].site_dir)
                lists[n] = doctor_list(browser, site, server, args.runs, search_queries(site), args.cpu)
                server.stop()
        finally:
            browser.close()
    result = {
        "chromium": CHROMIUM, "cpus": os.cpu_count(), "load": os.getloadavg()[0], "runs": args.runs, "server": args.server,
        "export_s": {n: s["export_s"] for n, s in large.items()},
        "patient_own": own, "patient_general": general, "doctor": lists,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    report(result, args.cpu)
    print(f"wrote {args.json}")


def report(result: dict, cpu: bool) -> None:
    """Print the results (also written as JSON)."""
    own, general, lists = result["patient_own"], result["patient_general"], result["doctor"]
    print(f"Chromium headless, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min), {result['server']} server")
    if own:
        bare = [r["bare_ms"] for r in own + general]
        print(f"bare Argon2id (64 MiB, 3 passes) in the page: {summary(bare)}")
        print(f"patient page, own password:     {summary([r['open_ms'] for r in own])}; "
              f"over bare: {summary([r['open_ms'] - r['bare_ms'] for r in own])}")
        print(f"patient page, general password: {summary([r['open_ms'] for r in general])} (two KDFs)")
        b = own[0]["bytes"]
        print(f"first visit bytes: app {b['app']:,}, clinic data {b['data']:,}, {b['requests']} requests")
    for n, runs in lists.items():
        print(f"doctor list of {runs[0]['rows']:,} patients ({runs[0]['objects']} objects fetched), after the key:")
        print(f"  first rows painted: {summary([r['first_ms'] for r in runs])}")
        print(f"  whole list painted: {summary([r['list_ms'] for r in runs])}")
        keys = [t for r in runs for t in r["search_ms"]]
        print(f"  search per keystroke ({len(keys)} keystrokes): {summary(keys)}")
        loads = [r["load"] for r in runs]
        print(f"  load average at each login: {min(loads):.1f} to {max(loads):.1f}")
        if cpu:
            kinds = sorted({k for r in runs for k in r["cpu_ms"]}, key=lambda k: (k.startswith(" "), k))
            print("  CPU per login, median ms: " + ", ".join(
                f"{k.strip()} {statistics.median(r['cpu_ms'].get(k, 0) for r in runs):.0f}" for k in kinds))


if __name__ == "__main__":
    main()
