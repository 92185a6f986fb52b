"""WAL frames (4 KiB pages) the journal writes per item, by how many items a commit holds.

Deterministic, unlike wall time on shared cores: the kernel's work for the journal (the
writer thread's share of a bulk run's CPU) follows the pages each commit writes. Uses the
schema of src/journal/mod.rs (its MIGRATIONS) and rows shaped like an accept's, with and
without an attempt row per item (since 3b6fc6b, an item done at its first attempt has none).

    python3 bench/journal_frames.py
"""
import json
import os
import random
import re
import sqlite3
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
source = (ROOT / "src/journal/mod.rs").read_text()
block = source[source.index("const MIGRATIONS"):source.index("];", source.index("const MIGRATIONS"))]
MIGRATIONS = re.findall(r'r#"(.*?)"#', block, re.S)
RUN = "20261202T063813Z-3d9c"


def frames_per_item(batch, attempt_rows, n=10000):
    random.seed(1)
    path = Path(tempfile.mkdtemp()) / "journal.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA wal_autocheckpoint = 0")  # count every frame a commit writes
    for migration in MIGRATIONS:
        db.executescript(migration)
    db.execute("INSERT INTO runs VALUES (?, 'p', 'p.yaml', 'h', '[]', 'host', 1, 't', NULL, 'running', NULL, 0)", (RUN,))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    invitation = "engi-" + "z" * 13
    output = json.dumps({
        "Id": "task-" + "x" * 20, "StartTime": "2026-12-02T06:00:00Z", "TaskStatus": "COMPLETE",
        "Arn": "arn:aws:partnercentral:us-east-1:123456789012:catalog/AWS/engagement-invitation-task/" + "y" * 20,
        "EngagementInvitationId": invitation, "OpportunityId": "O1234567", "ResourceSnapshotJobId": "job-" + "a" * 13,
    })
    sent = json.dumps({"catalog": "AWS", "identifier": invitation, "client-token": "<redacted>"})
    for start in range(0, n, batch):
        db.execute("BEGIN")
        for position in range(start, min(n, start + batch)):
            key = "%024x" % random.getrandbits(96)
            db.execute(
                "INSERT OR REPLACE INTO items (run_id, step_id, key, position, label, status, attempts, throttled,"
                " input, output, error_code, error, session, started_at, finished_at, action)"
                " VALUES (?, 'accept', ?, ?, ?, 'succeeded', 1, 0, ?, ?, NULL, NULL, 0,"
                " '2026-12-02T06:00:00.000Z', '2026-12-02T06:00:00.100Z', 'accept-invitation')",
                (RUN, key, position, invitation, sent, output))
            if attempt_rows:
                db.execute(
                    "INSERT INTO attempts (run_id, step_id, item_key, session, attempt, at, outcome)"
                    " VALUES (?, 'accept', ?, 0, 1, '2026-12-02T06:00:00.100Z', 'succeeded')", (RUN, key))
        db.execute("COMMIT")
    return os.path.getsize(str(path) + "-wal") / (4096 + 24) / n


batches = (1, 2, 5, 10, 20, 50)
print("| items per commit | " + " | ".join(map(str, batches)) + " |")
print("| --- |" + " --- |" * len(batches))
for attempt_rows in (True, False):
    label = "with an attempt row" if attempt_rows else "without (first-attempt success)"
    print(f"| {label} | " + " | ".join(f"{frames_per_item(b, attempt_rows):.2f}" for b in batches) + " |")
