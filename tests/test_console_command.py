"""`chartseal console` end to end: a real process, its printed address, the token traded."""
from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
from urllib.parse import urlsplit

from conftest import keys

from exporter import access


def test_console_serves_the_printed_address_and_two_consoles_share_a_home(home):
    env = dict(os.environ, CHARTSEAL_TEST_WEAK_KDF="1")
    procs, urls = [], []
    try:
        for _ in range(2):
            proc = subprocess.Popen([sys.executable, "-m", "cli", "console", "--home", str(home.root),
                                     "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
            procs.append(proc)
            for line in proc.stdout:
                found = re.search(r"open: (http://127\.0\.0\.1:\d+/\?token=\S+)", line)
                if found:
                    urls.append(found.group(1))
                    break
        assert len(urls) == 2 and urls[0] != urls[1]
        cookies = []
        for url in urls:
            parts = urlsplit(url)
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            conn.request("GET", f"/?{parts.query}")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 303 and resp.getheader("Location") == "/"
            cookies.append((parts, resp.getheader("Set-Cookie").split(";")[0]))
        # the first console's cookie does not open the second
        (p1, c1), (p2, _) = cookies
        conn = http.client.HTTPConnection(p2.hostname, p2.port, timeout=10)
        conn.request("GET", "/", headers={"Cookie": c1})
        assert conn.getresponse().status == 403
        # both consoles create accounts at once: every one lands, none is lost
        csrf = {}
        for parts, cookie in cookies:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            conn.request("GET", "/accounts", headers={"Cookie": cookie})
            csrf[parts.port] = re.search(r'name="csrf" value="([^"]+)"', conn.getresponse().read().decode()).group(1)

        def create(parts, cookie, name):
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            conn.request("POST", "/accounts/create", body=f"csrf={csrf[parts.port]}&name={name}&how=generate",
                         headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
            resp = conn.getresponse()
            body = resp.read().decode()
            if resp.status != 200:  # a thread's assert would not fail the test: keep it
                failures.append((name, resp.status, re.findall(r'class="error[^"]*"[^>]*>([^<]+)', body)))

        failures: list = []

        threads = [threading.Thread(target=create, args=(*cookies[i % 2], f"dr.{i}")) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not failures, failures
        conn = keys(home)
        assert {a.name for a in access.list_accounts(conn)} >= {f"dr.{i}" for i in range(8)}
        conn.close()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            out, _ = proc.communicate(timeout=10)
            assert "console stopped" in out
