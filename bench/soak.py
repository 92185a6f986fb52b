"""The soak benchmark (`bench/run --only soak`): the example job worker, untuned, polling the
emulator every 100 ms for 10,000 iterations while jobs arrive throughout, with its metrics
endpoint on and a short retention so the worker prunes as it goes. Its resident memory,
open file descriptors, threads and journal size are sampled every few seconds; the verdicts
are the issue's: after warm-up, RSS grows by less than 5%, descriptors and threads stay
constant, and the journal stays bounded by the retention.
"""
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT_TOKEN = "handoff-emulator-client-token"


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def sample(pid, journal):
    status = proc_status(pid)
    size = sum(p.stat().st_size for p in journal.parent.glob(journal.name + "*") if p.is_file())
    return {
        "rss_mb": int(status["VmRSS"].split()[0]) / 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(status["Threads"]),
        "journal_mb": size / 1e6,
    }


def runs_so_far(metrics):
    """Iterations finished, from the worker's own /metrics."""
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return int(sum(float(v) for v in re.findall(r'^handoff_runs_total\{status="[a-z]+"\} (\S+)$', text, re.M)))


def soak(binary, work, env, emulator_class, iterations=10_000, every_ms=100, arrive_s=1.0, keep="2m",
         sample_every=10.0):
    jobs = int(iterations * every_ms / 1000 / arrive_s) + 1
    state = work / "soak-state"
    journal = state / "journal.sqlite"
    with emulator_class(binary, "--generate", f"jobs={jobs},failing=10%,arrive={int(arrive_s * 1000)}ms",
                        "--seed", "7") as emulator:
        worker = subprocess.Popen(
            [binary, "run", str(ROOT / "examples/job-worker.yaml"), "--endpoint-url", emulator.url,
             "--var", f"deploy_root={work / 'deployments'}", "--every", f"{every_ms}ms",
             "--max-runs", str(iterations), "--keep-runs-for", keep, "--metrics", "127.0.0.1:0",
             "--progress", "json"],
            env=dict(env, HANDOFF_STATE=str(journal), PARTNER_CLIENT_TOKEN=CLIENT_TOKEN),
            stdout=subprocess.DEVNULL, stderr=open(work / "soak-worker.log", "w"), text=True)
        metrics = None
        while metrics is None and worker.poll() is None:
            time.sleep(0.1)
            found = re.search(r"http://([^/]+)/metrics", (work / "soak-worker.log").read_text())
            metrics = found and found.group(1)
        started = time.monotonic()
        samples = []
        while worker.poll() is None:
            time.sleep(sample_every)
            try:
                row = sample(worker.pid, journal)
                row["runs"] = runs_so_far(metrics)
            except (OSError, ValueError, KeyError):
                break
            row["seconds"] = round(time.monotonic() - started, 1)
            row["jobs_done"] = sum(emulator.get("summary")["jobs"].get(s, 0) for s in ("Succeeded", "Failed"))
            samples.append(row)
        worker.wait()
        summary = emulator.get("summary")["jobs"]
    return {"iterations": iterations, "every_ms": every_ms, "jobs": jobs, "keep": keep,
            "exit": worker.returncode, "seconds": round(time.monotonic() - started, 1),
            "jobs_final": summary, "samples": samples}


def verdicts(result):
    """The issue's goals, from the samples after warm-up (the first tenth of the iterations).
    Descriptors and threads: the value most samples show in each half, and the samples off it
    (a deploy script's pipes, the runtime's blocking threads for journal writes come and go
    within an iteration, and idle blocking threads live 10 s); steady when both halves have the
    same usual value and at least 90% of the second half's samples show it: a leak would move
    the usual value, or keep the samples off it."""
    from collections import Counter
    samples = result["samples"]
    warm = [s for s in samples if s["runs"] >= result["iterations"] // 10] or samples
    first, last = warm[0], warm[-1]
    half = len(warm) // 2
    early, late = warm[:max(1, half)], warm[half:]
    growth = (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"]

    def usual(rows, key):
        value = Counter(r[key] for r in rows).most_common(1)[0][0]
        return value, sum(1 for r in rows if r[key] != value)

    out = {"rss_growth": growth, "rss_ok": growth < 0.05, "steady": True}
    for key in ("fds", "threads"):
        (v1, off1), (v2, off2) = usual(early, key), usual(late, key)
        out[key] = {"usual": [v1, v2], "off": [off1, off2], "range": [min(r[key] for r in warm), max(r[key] for r in warm)]}
        out["steady"] = out["steady"] and v1 == v2 and off2 <= 0.1 * len(late)
    out["journal_max_second_half_mb"] = max(s["journal_mb"] for s in late)
    out["journal_max_first_half_mb"] = max(s["journal_mb"] for s in early)
    return out


def describe(counted):
    usual, off, (low, high) = counted["usual"], counted["off"], counted["range"]
    same = f"{usual[0]} in most samples of both halves" if usual[0] == usual[1] else \
        f"{usual[0]} in most samples of the first half, {usual[1]} of the second"
    return same + (f" ({off[0]} and {off[1]} samples off it, between {low} and {high})" if off[0] + off[1] else "")


def table(result):
    v = verdicts(result)
    samples = result["samples"]
    step = max(1, len(samples) // 12)
    shown = samples[::step]
    if shown[-1] is not samples[-1]:
        shown.append(samples[-1])
    lines = ["| time | iterations | jobs done | RSS | open fds | threads | journal |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in shown:
        lines.append(f"| {s['seconds']:.0f} s | {s['runs']:,} | {s['jobs_done']:,} | {s['rss_mb']:.1f} MB | "
                     f"{s['fds']} | {s['threads']} | {s['journal_mb']:.2f} MB |")
    lines.append("")
    lines.append(f"After warm-up (from iteration {result['iterations'] // 10:,}): RSS grew "
                 f"{v['rss_growth'] * 100:.1f}% (goal < 5%: {'met' if v['rss_ok'] else 'missed'}); open fds "
                 f"{describe(v['fds'])}; threads {describe(v['threads'])} (goal: constant: "
                 f"{'met' if v['steady'] else 'missed'}); the journal at most "
                 f"{v['journal_max_first_half_mb']:.2f} MB in the first half and {v['journal_max_second_half_mb']:.2f} MB "
                 f"in the second (retention {result['keep']}). The worker exited {result['exit']} after "
                 f"{result['seconds']:.0f} s; the emulator's jobs: {json.dumps(result['jobs_final'])}.")
    return "\n".join(lines)


OUT = ROOT / "docs/benchmarks-soak.md"

DOC = """# Benchmarks: a worker over 10,000 iterations

Written by `bench/run --only soak` on {machine}, in {minutes:.1f} minutes. The example job
worker (`examples/job-worker.yaml`, unchanged, no `rate-limits`, no retry settings) runs as
`--every {every_ms}ms --max-runs {iterations} --keep-runs-for {keep} --metrics 127.0.0.1:0
--progress json` against the emulator, which queues one of {jobs:,} generated jobs every second
(10% of them fail in the deploy script) from the start: most iterations poll and find nothing,
one in ten or so claims, deploys and reports a job. Every {sample_every:.0f} seconds the
benchmark reads the worker's resident memory, open file descriptors and threads from /proc,
the journal's size on disk (with its write-ahead log), and the iterations so far from the
worker's own `/metrics`.

{table}

The retention is short here so that the run shows it at work: a worker prunes the runs that
succeeded longer ago than `--keep-runs-for` (hourly, or twice per retention if shorter), so
its journal holds at most a retention's worth of job runs; idle iterations are not journaled
at all. At the default of 7 days and the sizes in [unattended.md](unattended.md#retention),
that is the bound to plan for.

<details><summary>Raw samples</summary>

```json
{raw}
```

</details>
"""
