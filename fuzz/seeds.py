#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/TARGET/ (docs/fuzzing.md).

Seeds are small, valid or nearly valid inputs that reach deep into each parser, built from
tests/fixtures and examples/. Run from the repository root with a built handoff binary (for
the journal seed): `python3 fuzz/seeds.py target/debug/handoff`. The corpus is checked in;
this script says where each seed came from and rebuilds them.
"""
import glob
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, data, name=None):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def playbooks():
    files = sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml")))
    files += sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "valid", "*.yaml")))
    files += sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "invalid", "*.yaml")))
    for path in files:
        if os.path.getsize(path) <= 64 * 1024:
            put("playbook", open(path, "rb").read(), os.path.basename(path))
    # Line breaks of every kind, tabs, a BOM and wide characters: positions must stay inside.
    put("playbook", "version: 1\r\nname: crlf\r\nsteps:\r\n  - id: a\r\n    action: exec\r\n", "crlf.yaml")
    put("playbook", "\ufeffversion: 1\nname: \"bom é 漢字\"\nsteps: [ {id: a, action: nope} ]\n", "bom.yaml")
    put("playbook", "version: 1\rname: cr\rsteps: []\r", "cr-only.yaml")


def vars_files():
    selector = {"csv": b"\x00", "json": b"\x01", "jsonl": b"\x02", "yaml": b"\x03", "var": b"\x04"}
    for path in glob.glob(os.path.join(ROOT, "examples", "*.csv")):
        put("vars", selector["csv"] + open(path, "rb").read()[:4096], "example.csv")
    put("vars", selector["csv"] + b'id,note\nengi-1,"a, b"\nengi-2,"multi\nline"\n', "quoted.csv")
    put("vars", selector["csv"] + b"id,note\nengi-1,x\nengi-2\n", "short-row.csv")
    put("vars", selector["json"] + b'{"ids": [1, 2.5e3, "x", null, true], "n": {"a": [{}]}}', "nested.json")
    put("vars", selector["jsonl"] + b'{"id": 1}\n\n{"id": "\\u00e9"}\n', "rows.jsonl")
    put("vars", selector["yaml"] + b"- id: 1\n  tags: [a, b]\n- id: &x 2\n- *x\n", "anchors.yaml")
    put("vars", selector["var"] + b"region=us-east-1", "override")
    put("vars", selector["var"] + b"a==b=", "override-equals")


def templates():
    for text, value in [
        ("{{ item }}", "plain"),
        ("id-{{ item | upper }}-{{ vars.list | length }}", "{{ secrets.token }}"),
        ("{% for x in vars.list %}{{ loop.index }}:{{ x }};{% endfor %}", "{% raw %}"),
        ("{{ vars.deep | tojson }}", "abab"),
        ("{{ item | origin }}", "x"),
        ("{{ '2026-11-23' | days_until > 1 }}", "y"),
        ("{{ vars.value[1:3] ~ vars.list[-1] }}", "hello"),
        ("{% if item in vars.value %}in{% else %}out{% endif %}", "z"),
        ("{{ range(3) | list }}{{ dict(a=1).a }}", ""),
        ("{{ item.idd }}", "strict"),
    ]:
        put("template", text.encode() + b"\x00" + value.encode())


def http_requests():
    ops = {
        0: {"actionTypeId": {"category": "Deploy", "owner": "ThirdParty", "provider": "handoff", "version": "1"}, "maxBatchSize": 5},
        1: {"jobId": "job-1", "clientToken": "t"},
        2: {"jobId": "job-1", "nonce": "1", "clientToken": "t"},
        3: {"jobId": "job-1", "clientToken": "t", "continuationToken": "c", "executionDetails": {"summary": "ok"}},
        4: {"jobId": "job-1", "clientToken": "t", "failureDetails": {"type": "JobFailed", "message": "m"}},
        5: {"Catalog": "AWS", "MaxResults": 10, "ParticipantType": "RECEIVER"},
        6: {"Catalog": "AWS", "Identifier": "engi-1"},
        7: {"Catalog": "AWS", "Identifier": "engi-1", "ClientToken": "handoff-abc"},
        8: {"Catalog": "AWS", "MaxResults": 10},
        9: {"Catalog": "AWS", "Identifier": "engi-1", "RejectionReason": "x"},
    }
    for op, body in ops.items():
        put("emulator", bytes([1, op]) + json.dumps(body).encode(), f"signed-{op}")
    raw = [
        b"GET /_handoff/summary HTTP/1.1\r\nhost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: AWSPartnerCentralSelling.GetEngagementInvitation\r\n"
        b"content-type: application/x-amz-json-1.0\r\nauthorization: AWS4-HMAC-SHA256 Credential=AKIAHANDOFFEMULATOR1/20261123/us-east-1/partnercentral-selling/aws4_request, "
        b"SignedHeaders=host;x-amz-date;x-amz-target, Signature=00\r\nx-amz-date: 20261123T000000Z\r\ncontent-length: 2\r\n\r\n{}",
        b"PUT /bucket/key HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc",
        b"GET /bucket/key?X-Amz-Credential=a HTTP/1.1\r\nhost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nx-amz-target: CodePipeline_20150709.PollForThirdPartyJobs\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    ]
    for request in raw:
        put("emulator", b"\x00" + request)


def journal(handoff):
    """A real journal: a small run against the emulator, recorded with --state."""
    work = tempfile.mkdtemp()
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        emulator = subprocess.Popen([handoff, "emulator", "--port", str(port), "--generate", "invitations=3", "--quota", "off"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            playbook = os.path.join(ROOT, "examples", "accept-all-pending.yaml")
            state = os.path.join(work, "j.sqlite")
            env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIAHANDOFFEMULATOR1", AWS_SECRET_ACCESS_KEY="handoff-emulator-secret",
                       AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
            subprocess.run([handoff, "run", playbook, "--endpoint-url", f"http://127.0.0.1:{port}", "--state", state,
                            "--progress", "none"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Fold the write-ahead log into the file, so one file is the whole journal.
            subprocess.run(["python3", "-c", f"import sqlite3; c=sqlite3.connect({state!r}); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.execute('PRAGMA journal_mode=DELETE'); c.close()"])
            put("journal", open(state, "rb").read(), "run.sqlite")
        finally:
            emulator.terminate()
            emulator.wait()
    finally:
        shutil.rmtree(work)
    put("journal", b"SQLite format 3\x00" + b"\x00" * 84, "header-only")


def zips():
    def build(entries):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data, mode in entries:
                info = zipfile.ZipInfo(name)
                info.external_attr = mode << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
        return buffer.getvalue()

    file, link, folder = 0o100644, 0o120777, 0o040755
    put("archive", build([("app/", b"", folder), ("app/main.py", b"print(1)\n" * 20, file), ("README", b"hi", file)]), "normal.zip")
    put("archive", build([("a/b/c.txt", b"x", file), ("a/link", b"b/c.txt", link)]), "symlink-inside.zip")
    put("archive", build([("link", b"../outside", link)]), "symlink-outside.zip")
    put("archive", build([("dir/", b"", folder), ("dir/../../escape", b"x", file)]), "dotdot.zip")
    put("archive", build([("/etc/absolute", b"x", file)]), "absolute.zip")
    put("archive", build([("d", b"..", link), ("d/x", b"x", file)]), "through-symlink.zip")
    put("archive", build([("same", b"1", file), ("same", b"2", file)]), "duplicate.zip")


def main():
    handoff = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "handoff")
    shutil.rmtree(CORPUS, ignore_errors=True)
    playbooks()
    vars_files()
    templates()
    http_requests()
    journal(handoff)
    zips()
    for target in sorted(os.listdir(CORPUS)):
        print(target, len(os.listdir(os.path.join(CORPUS, target))))


if __name__ == "__main__":
    main()
