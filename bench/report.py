"""The HTML report at scale (`bench/run --only report`): a bulk acceptance of 100,000
invitations under faults (throttles, server errors, a hundred unknown ids that fail), its
report written by `handoff report`, then opened from disk in headless Chromium (Debian's
package) over the DevTools protocol with the network off. Measured: the file's size, the time
`handoff report` takes and its peak memory, and in the browser the time from navigation to the
first frame after the page's script has run (interactive), then a status filter and a search
over all items. Goals (issue 35): under 10 MB, interactive within 3 s.
"""
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs/benchmarks-report.md"


def chromium():
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(path):
            return path
    raise SystemExit("Chromium is needed (apt-get install chromium)")


class DevTools:
    """Headless Chromium and one page, driven over the DevTools protocol."""

    def __init__(self):
        import websocket  # websocket-client, from PyPI
        self.profile = tempfile.mkdtemp()
        self.proc = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--remote-debugging-port=0", "--window-size=1280,900",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and len(active.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline:
                raise SystemExit("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port, path = active.read_text().splitlines()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=120, suppress_origin=True)
        self.next_id, self.session, self.events = 0, None, []
        target = self.call("Target.createTarget", url="about:blank")
        self.session = self.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "Network.enable", "Log.enable"):
            self.call(domain)
        self.call("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
                  uploadThroughput=-1)

    def call(self, method, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def eval(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url):
        """Seconds from navigation to the first frame after the load event (the page's script
        runs before it)."""
        self.events.clear()
        self.call("Page.navigate", url="about:blank")
        self.wait_for_load()
        self.events.clear()
        started = time.monotonic()
        self.call("Page.navigate", url=url)
        self.wait_for_load()
        self.eval("new Promise(r => { (function check() { document.body && document.body.dataset.ready ? "
                  "requestAnimationFrame(() => requestAnimationFrame(r)) : setTimeout(check, 2); })(); })")
        return time.monotonic() - started

    def wait_for_load(self):
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(json.loads(self.ws.recv()))

    def problems(self):
        bad = []
        for e in self.events:
            method = e.get("method")
            if method == "Runtime.exceptionThrown":
                bad.append(str(e["params"]["exceptionDetails"])[:200])
            elif method == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error", "warning"):
                bad.append(e["params"]["entry"]["text"][:200])
        return bad

    def requests(self):
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


TIMED = "(() => {{ const t = performance.now(); {action}; return performance.now() - t; }})()"


def bench(binary, work, env, emulator_class, harness, n=100_000, loads=3):
    """`harness`: run.py's measured, write_ids and accept_playbook."""
    with emulator_class(binary, "--generate", f"invitations={n}", "--quota", "off", "--faults",
                        "throttle=0.02,error=0.005", "--seed", "35") as emulator:
        ids = work / f"report-{n}.csv"
        unknown = [f"engi-unk{i:010d}" for i in range(100)]
        harness.write_ids(ids, emulator.pending_ids() + unknown)
        playbook = harness.accept_playbook(work, f"report{n}", ids.name, 64, "unlimited")
        text = playbook.read_text()
        assert "    concurrency: 64\n" in text, text
        playbook.write_text(text.replace("    concurrency: 64\n", "    concurrency: 64\n    on-failure: continue\n", 1))
        journal = work / "report-journal.sqlite"
        run = subprocess.run([binary, "run", str(playbook), "--endpoint-url", emulator.url, "--progress", "none",
                              "--state", str(journal)], cwd=work, env=env, capture_output=True, text=True)
    page = work / "report.html"
    wall, cpu, rss, code, _ = harness.measured([binary, "report", "latest", "--html", str(page), "--state", str(journal)],
                                               cwd=work)
    result = {"n": n, "run_exit": run.returncode, "report_exit": code, "report_seconds": wall,
              "report_rss_mb": rss, "bytes": page.stat().st_size if page.exists() else 0, "loads": []}
    browser = DevTools()
    try:
        for _ in range(loads):
            seconds = browser.open(page.as_uri())
            items = browser.eval("document.getElementById('shown').textContent")
            failed = browser.eval(TIMED.format(action="const s = document.getElementById('status'); "
                                               "s.value = 'failed'; s.dispatchEvent(new Event('change'))"))
            failed_shown = browser.eval("document.getElementById('shown').textContent")
            search = browser.eval(TIMED.format(action="const q = document.getElementById('search'); "
                                               "q.value = 'unk0000000042'; q.dispatchEvent(new Event('input'))"))
            searched_rows = browser.eval("document.querySelectorAll('#rows tr').length")
            result["loads"].append({"interactive_s": seconds, "filter_ms": failed, "search_ms": search,
                                    "shown": items, "failed_shown": failed_shown, "searched_rows": searched_rows,
                                    "problems": browser.problems(), "requests": len(browser.requests())})
    finally:
        browser.close()
    return result


def table(result):
    loads = result["loads"]
    interactive = statistics.median(l["interactive_s"] for l in loads)
    size_mb = result["bytes"] / 1e6
    lines = [
        "| measure | goal | figure |",
        "| --- | --- | ---: |",
        f"| items in the run | | {result['n'] + 100:,} |",
        f"| report file | < 10 MB | {size_mb:.2f} MB ({'met' if size_mb < 10 else 'missed'}) |",
        f"| `handoff report` wall time | | {result['report_seconds']:.2f} s |",
        f"| `handoff report` peak RSS | | {result['report_rss_mb']:.0f} MB |",
        f"| Chromium: navigation to interactive, median of {len(loads)} | < 3 s | {interactive:.2f} s "
        f"({'met' if interactive < 3 else 'missed'}) |",
        "| the same, each load | | " + ", ".join(f"{l['interactive_s']:.2f} s" for l in loads) + " |",
        "| filter to failed items (all items scanned) | | "
        + ", ".join(f"{l['filter_ms']:.0f} ms" for l in loads) + " |",
        "| then a search within them | | " + ", ".join(f"{l['search_ms']:.0f} ms" for l in loads) + " |",
        f"| what the table said | | {loads[-1]['shown']}; failed: {loads[-1]['failed_shown']}; "
        f"searched: {loads[-1]['searched_rows']} row |",
        f"| errors in the page, requests made | none, the page only | "
        f"{sum(len(l['problems']) for l in loads)}, {max(l['requests'] for l in loads)} |",
    ]
    return "\n".join(lines)


DOC = """# Benchmarks: the HTML report of a 100,000-item run

Written by `bench/run --only report` on {machine}, in {minutes:.1f} minutes (`bench/report.py`).
A bulk acceptance of {n:,} invitations and 100 unknown ids (which fail with
ResourceNotFoundException) runs against the emulator under faults (2% throttled answers, 0.5%
server errors), with `on-failure: continue`. `handoff report latest --html` writes its report
from the journal; headless Chromium (Debian's package) opens it from a `file://` URL over the
DevTools protocol, the network turned off, {loads} times. *Interactive* is the wall time from
the navigation to the first frame after the page's script says the items table is live (it
has inflated and parsed the items and drawn their first page). The filter and search times are
the page's own (`performance.now()` around the change event): each scans every item.

{table}

How the page keeps to its size: the items ride as compact JSON arrays (the step as an index,
error codes and messages stored once and referred to), inputs and outputs as one-line
summaries (240 characters in runs of up to 20,000 items, 120 above); past 1 MB that JSON is
gzipped into the page in base64 and inflated by the browser's `DecompressionStream`. The charts
are aggregated into at most 240 time buckets whatever the run's length. The table shows 100
rows at a time.

<details><summary>Raw figures</summary>

```json
{raw}
```

</details>
"""
