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
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
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


def doctor_list(browser, site: dict, url: str, runs: int, queries: list[str]) -> list[dict]:
    home = site["home"]
    out = []
    for _ in range(runs):
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(300_000)
        objects: list[str] = []  # the page's and its workers' requests for site objects
        context.on("request", lambda req: objects.append(req.url) if "/obj/" in req.url else None)
        page.goto(f"{url}/doctor/")
        wait_state(page, "login")
        page.fill("#clinic", home.clinic_id)
        page.fill("#login-password", site["login"])
        page.fill("#user", "admin")
        page.fill("#user-password", site["admin"])
        page.click("#go")
        # Polled every 250 ms, not every frame: a frame-by-frame poll makes the page paint
        # (and lay out) all along the load it measures.
        page.wait_for_function("() => performance.getEntriesByName('chartseal:list-painted').length > 0"
                               " || document.body.dataset.state === 'error'", polling=250)
        assert wait_state(page, "ready", "error") == "ready", page.inner_text("#app-error")
        marks = json.loads(page.evaluate(MARKS))
        keystrokes = [t for q in queries for t in search_keystrokes(page, q)]
        out.append({"first_ms": marks["chartseal:list-first-painted"] - marks["chartseal:kdf-end"],
                    "list_ms": marks["chartseal:list-painted"] - marks["chartseal:kdf-end"],
                    "rows": int(page.inner_text("#list-count").split("/")[1].replace(",", "")),
                    "objects": len(objects), "rendered": page.locator("#list li").count(), "search_ms": keystrokes})
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
    args = parser.parse_args()
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
                server = serve_site(small["home"].site_dir)
                own = patient_runs(browser, small, server.url, args.runs, small["patient_pw"])
                general = patient_runs(browser, small, server.url, args.runs, small["general"])
                server.stop()
            for n, site in large.items():
                server = serve_site(site["home"].site_dir)
                lists[n] = doctor_list(browser, site, server.url, args.runs, search_queries(site))
                server.stop()
        finally:
            browser.close()
    result = {
        "chromium": CHROMIUM, "cpus": os.cpu_count(), "load": os.getloadavg()[0], "runs": args.runs,
        "export_s": {n: s["export_s"] for n, s in large.items()},
        "patient_own": own, "patient_general": general, "doctor": lists,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"Chromium headless, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min)")
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
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
