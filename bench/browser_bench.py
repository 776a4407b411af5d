"""Browser benchmark: the portal in headless Chromium against exported sites on 127.0.0.1.

    .venv/bin/python bench/browser_bench.py                    # 10,000-patient list, 5 runs
    .venv/bin/python bench/browser_bench.py --patients 2000 --runs 3

Measures (targets from DESIGN.md):
- patient page: submit -> record painted, against the bare Argon2id time in the same browser
  (64 MiB, 3 passes; target: + 150 ms at most), with the patient's and the general password;
- bytes a first visit downloads to open one patient page (app and data apart);
- doctor list of N patients: key derived -> list painted (target < 1 s);
- search per keystroke over N patients: input handled and next frame painted (target < 50 ms).
The large site uses weak Argon2id so its export is quick; the list timing starts after the
key is derived, so the KDF cost does not enter it.
"""
from __future__ import annotations

import argparse
import json
import os
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
from exporter import access, crypto, keystore  # noqa: E402
from exporter.demo_data import write_demo_clinic  # noqa: E402
from exporter.home import Database, create_home, load_home  # noqa: E402
from exporter.site import export_site  # noqa: E402

MARKS = "JSON.stringify(Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime])))"


def make_site(tmp: Path, patients: int, params: crypto.KdfParams) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    db = tmp / "main.sqlite"
    write_demo_clinic(db, patients=patients, seed=3)
    home = create_home(tmp / "home", params)
    conn = keystore.create(home.keys_path)
    access.init_keys(conn)
    conn.close()
    home.databases["main"] = Database("main", db)
    home.save()
    home = load_home(home.root)
    start = time.perf_counter()
    export_site(home)
    export_s = time.perf_counter() - start
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


def doctor_list(browser, site: dict, url: str, runs: int) -> list[dict]:
    home = site["home"]
    out = []
    for _ in range(runs):
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/doctor/")
        wait_state(page, "login")
        page.fill("#clinic", home.clinic_id)
        page.fill("#login-password", site["login"])
        page.fill("#user", "admin")
        page.fill("#user-password", site["admin"])
        page.click("#go")
        assert wait_state(page, "ready", "error") == "ready", page.inner_text("#login-error")
        page.wait_for_function("() => performance.getEntriesByName('chartseal:list-painted').length > 0")
        marks = json.loads(page.evaluate(MARKS))
        keystrokes = search_keystrokes(page)
        out.append({"list_ms": marks["chartseal:list-painted"] - marks["chartseal:kdf-end"],
                    "rows": int(page.inner_text("#list-count").split("/")[1]),
                    "rendered": page.locator("#list li").count(), "search_ms": keystrokes})
        context.close()
    return out


def search_keystrokes(page) -> list[float]:
    """Type a query one character at a time; time each input event to the next painted frame."""
    return page.evaluate(
        """async (query) => {
            const box = document.getElementById('search');
            const times = [];
            for (const text of [...query.split('').map((_, i) => query.slice(0, i + 1)), '']) {
                const t0 = performance.now();
                box.value = text;
                box.dispatchEvent(new Event('input'));
                await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
                times.push(performance.now() - t0);
            }
            return times;
        }""",
        "ahmad 07",
    )


def summary(values: list[float]) -> str:
    p95 = sorted(values)[max(0, round(0.95 * len(values)) - 1)]
    return f"median {statistics.median(values):.0f} ms, p95 {p95:.0f} ms, max {max(values):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "browser.json")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        small = make_site(Path(tmp) / "small", 5, crypto.KdfParams())  # real Argon2id
        large = make_site(Path(tmp) / "large", args.patients, crypto.KdfParams(ops=1, mem=8192))
        servers = [serve_site(small["home"].site_dir), serve_site(large["home"].site_dir)]
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            own = patient_runs(browser, small, servers[0].url, args.runs, small["patient_pw"])
            general = patient_runs(browser, small, servers[0].url, args.runs, small["general"])
            lists = doctor_list(browser, large, servers[1].url, args.runs)
        finally:
            browser.close()
            for s in servers:
                s.stop()
    bare = [r["bare_ms"] for r in own + general]
    result = {
        "chromium": CHROMIUM, "cpus": os.cpu_count(), "load": os.getloadavg()[0],
        "patients": args.patients, "runs": args.runs, "large_export_s": large["export_s"],
        "patient_own": own, "patient_general": general, "doctor": lists,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"Chromium headless, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"bare Argon2id (64 MiB, 3 passes) in the page: {summary(bare)}")
    print(f"patient page, own password:     {summary([r['open_ms'] for r in own])}; "
          f"over bare: {summary([r['open_ms'] - r['bare_ms'] for r in own])}")
    print(f"patient page, general password: {summary([r['open_ms'] for r in general])} (two KDFs)")
    b = own[0]["bytes"]
    print(f"first visit bytes: app {b['app']:,}, clinic data {b['data']:,}, {b['requests']} requests")
    print(f"doctor list of {lists[0]['rows']:,} patients after the key: {summary([r['list_ms'] for r in lists])}")
    keys = [t for r in lists for t in r["search_ms"]]
    print(f"search per keystroke on {lists[0]['rows']:,}: {summary(keys)}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
