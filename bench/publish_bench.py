"""Publisher benchmark: chartseal publish against ``aws s3 sync`` and ``rclone sync --checksum``
on one moto S3 server, same run, each tool in its own bucket (or, for the no-op, the same
populated bucket), every tool as a fresh process so start-up time counts for all.

Two parts:

- ``first``: a fresh site of ``--patients`` (3 objects each, plus the clinic's and the app's
  few) uploaded to an empty bucket by each tool in turn, then a no-op and one changed patient.
- ``noop``: a site of ``--noop-patients`` (50,000: 150,000 objects) put into one bucket once
  (fast parallel puts, not timed; kept on a reused server), chartseal's state database built
  by its first listing of the target (not timed), then a timed no-op by each tool.

rclone is optional: without it on PATH its rows say so and the bench goes on
(``apt-get install rclone`` adds it; ``make bench`` does). Prints a table with ratios and
writes it under the "Publisher" heading of docs/PERFORMANCE.md.

    .venv/bin/python bench/publish_bench.py [--patients 3000] [--noop-patients 50000]
        [--endpoint http://127.0.0.1:PORT] [--workdir DIR] [--only first|noop] [--no-write]

``--endpoint`` reuses a running moto server (``MOTO_S3_DEFAULT_MAX_KEYS=1000 moto_server -p
PORT``) and ``--workdir`` the generated no-op site, so the long populating step runs once.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
BIN = Path(sys.executable).parent

from s3 import CREDS, FakeSite, make_home, s3_client  # noqa: E402

NOOP_BUCKET = "noop"
POPULATED = "populated.marker"  # the last key the populating step writes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, MOTO_S3_DEFAULT_MAX_KEYS="1000")
    proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("moto_server did not start")


def tool_env() -> dict[str, str]:
    env = dict(os.environ, **CREDS, CHARTSEAL_TEST_WEAK_KDF="1", AWS_CONFIG_FILE="/nonexistent",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent", RCLONE_CONFIG="/nonexistent")
    env.pop("AWS_ENDPOINT_URL", None)
    # The server is plain http; rclone's S3 client refuses to start with a CA bundle it
    # cannot load into its transport.
    env.pop("AWS_CA_BUNDLE", None)
    return env


CPU: dict[str, float] = {}  # the last timed command's CPU seconds (user + system)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run; its CPU seconds go to CPU["last"] (a measure the other
    work on a shared machine disturbs less than the wall time)."""
    cpu0 = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    CPU["last"] = _children_cpu() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


class Tools:
    """The three command lines, each syncing a site folder into s3://BUCKET/site."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.rclone = shutil.which("rclone")
        if not self.rclone:
            print("note: rclone is not installed; its rows are skipped "
                  "(apt-get install rclone, or make bench)", flush=True)

    def ours(self, home) -> list[str]:
        return [str(BIN / "chartseal"), "publish", "--no-export", "--home", str(home.root)]

    def aws(self, site: Path, bucket: str) -> list[str]:
        return [str(BIN / "aws"), "s3", "sync", "--quiet", "--endpoint-url", self.url, str(site),
                f"s3://{bucket}/site"]

    def rclone_cmd(self, site: Path, bucket: str) -> list[str]:
        # The remote is described by environment variables (RCLONE_CONFIG_BENCH_*), below.
        return [str(self.rclone), "sync", "--checksum", "--s3-no-check-bucket", str(site),
                f"bench:{bucket}/site"]

    def env(self) -> dict[str, str]:
        env = tool_env()
        env.update(RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Other",
                   RCLONE_CONFIG_BENCH_ENDPOINT=self.url, RCLONE_CONFIG_BENCH_REGION="us-east-1",
                   RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=CREDS["AWS_ACCESS_KEY_ID"],
                   RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=CREDS["AWS_SECRET_ACCESS_KEY"],
                   RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true")
        return env


def measure(r: dict[str, float], runs: list, step: str, env: dict[str, str]) -> None:
    """Time each tool once into r["<tool>_<step>"]; an rclone that fails is dropped with a
    note (the comparison is optional), a chartseal or aws failure stops the bench."""
    for tool, cmd in list(runs):
        try:
            r[f"{tool}_{step}"] = timed(cmd, env)
        except SystemExit as exc:
            if tool != "rclone":
                raise
            print(f"note: rclone failed, its rows are skipped: {str(exc)[-500:]}", flush=True)
            runs.remove((tool, cmd))
            continue
        r[f"{tool}_{step}_cpu"] = CPU["last"]
        print(f"  {tool} {step}: {r[f'{tool}_{step}']:.2f} s, CPU {CPU['last']:.1f} s", flush=True)


def new_home(root: Path, url: str, bucket: str):
    home = make_home(root, f"s3://{bucket}/site")
    home.config["endpoint_url"] = url
    home.save()
    return home


def run_first(url: str, patients: int) -> dict[str, float]:
    """A first upload, a no-op and one changed patient by each tool into its own bucket."""
    tools = Tools(url)
    env = tools.env()
    tmp = Path(tempfile.mkdtemp(prefix="publish-bench-"))
    client = s3_client(url)
    for b in ("chartseal", "awscli", "rclone"):
        client.create_bucket(Bucket=b)
    home = new_home(tmp / "home", url, "chartseal")
    site = FakeSite(home, patients=patients)
    r: dict[str, float] = {"objects": len(site.write())}
    r["load_first"] = os.getloadavg()[0]
    runs = [("ours", tools.ours(home)), ("aws", tools.aws(home.site_dir, "awscli"))]
    if tools.rclone:
        runs.append(("rclone", tools.rclone_cmd(home.site_dir, "rclone")))
    for step in ("full", "noop"):
        measure(r, runs, step, env)
    site.edit(site.rids[len(site.rids) // 2])
    site.write()
    time.sleep(1.1)  # aws s3 sync compares modification times in whole seconds
    measure(r, runs, "one", env)
    r["ours_noop_cold"], r["ours_noop_warm"] = in_process_noop(home)
    shutil.rmtree(tmp, ignore_errors=True)
    return r


def populate(url: str, home, objs: dict) -> None:
    """Put every object of the site into the no-op bucket once (parallel, not timed)."""
    client = s3_client(url)
    try:
        client.head_object(Bucket=NOOP_BUCKET, Key=POPULATED)
        print("  no-op bucket already populated", flush=True)
        return
    except Exception:  # noqa: BLE001 - absent: populate it
        pass
    try:
        client.create_bucket(Bucket=NOOP_BUCKET)
    except Exception:  # noqa: BLE001 - a run stopped half-way left it
        pass
    names = sorted(objs)
    start = time.perf_counter()

    def put(name: str) -> None:
        client.put_object(Bucket=NOOP_BUCKET, Key=f"site/{name}",
                          Body=(home.site_dir / name).read_bytes())

    with ThreadPoolExecutor(16) as pool:
        for i, _ in enumerate(pool.map(put, names), 1):
            if i % 10_000 == 0:
                print(f"  populated {i:,}/{len(names):,} ({time.perf_counter() - start:.0f} s)",
                      flush=True)
    client.put_object(Bucket=NOOP_BUCKET, Key=POPULATED, Body=b"1")


def run_noop(url: str, patients: int, workdir: Path) -> dict[str, float]:
    """A no-op of each tool against one bucket that already holds the whole site."""
    tools = Tools(url)
    env = tools.env()
    home_dir = workdir / f"home-{patients}"
    if not (home_dir / "config.toml").exists():
        shutil.rmtree(home_dir, ignore_errors=True)
        home = new_home(home_dir, url, NOOP_BUCKET)
    else:
        from exporter.home import load_home

        home = load_home(home_dir)
    site = FakeSite(home, patients=patients)
    objs = site.write()
    populate(url, home, objs)
    r: dict[str, float] = {"noop_objects": len(objs)}
    # chartseal's first run lists the target once and adopts what it finds (not timed).
    print(f"  chartseal first listing: {timed(tools.ours(home), env):.1f} s", flush=True)
    r["load_noop"] = os.getloadavg()[0]
    runs = [("ours", tools.ours(home)), ("aws", tools.aws(home.site_dir, NOOP_BUCKET))]
    if tools.rclone:
        runs.append(("rclone", tools.rclone_cmd(home.site_dir, NOOP_BUCKET)))
    measure(r, runs, "noop50", env)
    r["ours_noop50_again"] = timed(tools.ours(home), env)
    return r


def in_process_noop(home) -> tuple[float, float]:
    """The no-op without interpreter start-up: what the background service pays per check."""
    from publisher.policy import Policy
    from publisher.publish import publish

    times = []
    for _ in range(4):  # the first call reads the state database from a cold cache
        start = time.perf_counter()
        report = publish(home, export=False, policy=Policy.from_env())
        times.append(time.perf_counter() - start)
        assert report.uploaded == 0
    return times[0], sorted(times[1:])[1]


def _cell(r: dict[str, float], tool: str, step: str, n: int | None = None) -> str:
    t = r.get(f"{tool}_{step}")
    if t is None:
        return "not installed"
    return f"{t:.1f} s ({n / t:.0f} objects/s)" if n else f"{t:.2f} s"


def _ratio(r: dict[str, float], tool: str, step: str) -> str:
    t = r.get(f"{tool}_{step}")
    return "–" if t is None else f"{t / r[f'ours_{step}']:.1f}x"


def render(r: dict[str, float], url: str) -> str:
    machine = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
               f"moto S3 server at {url.rsplit(':', 1)[0]}")
    lines = [f"Measured {machine}; every tool a fresh process (start-up counts); "
             "aws s3 sync and rclone with their default concurrency.", ""]
    head = ["| run | chartseal publish | aws s3 sync | aws / chartseal | "
            "rclone sync --checksum | rclone / chartseal |", "|---|---:|---:|---:|---:|---:|"]
    if "objects" in r:
        n = int(r["objects"])
        lines += [f"**First upload** of {n:,} objects (load average {r['load_first']:.1f} "
                  "at the start):", ""] + head
        for step, label in (("full", "first upload"), ("noop", "no-op"),
                            ("one", "one patient changed")):
            per = n if step == "full" else None
            lines.append(f"| {label} | {_cell(r, 'ours', step, per)} | {_cell(r, 'aws', step, per)} "
                         f"| {_ratio(r, 'aws', step)} | {_cell(r, 'rclone', step, per)} "
                         f"| {_ratio(r, 'rclone', step)} |")
        cpu = ", ".join(f"{tool} {1000 * r[f'{tool}_full_cpu'] / n:.2f} ms"
                        for tool in ("ours", "aws", "rclone") if f"{tool}_full_cpu" in r)
        lines += ["", f"CPU time per object of the first upload (user + system, the tool's "
                  f"process only): {cpu.replace('ours', 'chartseal')}."]
        lines += ["", f"No-op inside a running process (the service's case, no interpreter "
                  f"start-up): {r['ours_noop_cold'] * 1000:.0f} ms the first time, "
                  f"{r['ours_noop_warm'] * 1000:.0f} ms after, 0 requests.", ""]
    if "noop_objects" in r:
        n = int(r["noop_objects"])
        lines += [f"**No-op at {n:,} objects** ({(n - 8) // 3:,} patients; load average "
                  f"{r['load_noop']:.1f} at the start), one bucket holding the whole site:", ""]
        lines += head + [
            f"| no-op | {_cell(r, 'ours', 'noop50')} | {_cell(r, 'aws', 'noop50')} | "
            f"{_ratio(r, 'aws', 'noop50')} | {_cell(r, 'rclone', 'noop50')} | "
            f"{_ratio(r, 'rclone', 'noop50')} |",
            "", f"chartseal's second no-op: {r['ours_noop50_again']:.2f} s. chartseal reads only "
            "its state database (0 requests); aws and rclone list the whole bucket.", ""]
    return "\n".join(lines).rstrip()


NOTES = "<!-- notes below are kept when bench/publish_bench.py rewrites the tables -->"


def write_section(path: Path, body: str) -> None:
    """Replace only the "## Publisher" section's tables (other sections belong to other
    benches; the section's notes after the NOTES marker are kept)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    section = f"## Publisher\n\nMeasured by `bench/publish_bench.py`.\n\n{body}\n"
    pattern = re.compile(r"^## Publisher\n.*?(?=^## |\Z)", re.S | re.M)
    found = pattern.search(text)
    if found and NOTES in found.group(0):
        section += "\n" + NOTES + found.group(0).split(NOTES, 1)[1].rstrip() + "\n"
    if found:
        text = pattern.sub(lambda _m: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=3000, help="first-upload site (3 objects each)")
    ap.add_argument("--noop-patients", type=int, default=50_000)
    ap.add_argument("--endpoint", help="reuse this running moto server")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "publish-bench")
    ap.add_argument("--only", choices=("first", "noop"))
    ap.add_argument("--no-write", action="store_true", help="do not update docs/PERFORMANCE.md")
    args = ap.parse_args()
    if not (BIN / "aws").exists():  # the peer every ratio is against: no table without it
        sys.exit(f"error: the aws command is not in {BIN}\n"
                 "hint: make bench installs it (pip install -e '.[bench]' in the venv)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    r: dict[str, float] = {}
    if args.only != "noop":
        # The first upload gets a server of its own, so the no-op bucket's size cannot slow it.
        moto, url = start_moto()
        try:
            r.update(run_first(url, args.patients))
        finally:
            moto.kill()
            moto.wait()
    if args.only != "first":
        moto, url = (None, args.endpoint) if args.endpoint else start_moto()
        try:
            r.update(run_noop(url, args.noop_patients, args.workdir))
        finally:
            if moto:
                moto.kill()
                moto.wait()
    table = render(r, url)
    print(table)
    if not args.no_write:
        write_section(ROOT / "docs" / "PERFORMANCE.md", table)


if __name__ == "__main__":
    main()
