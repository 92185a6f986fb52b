"""boto3's side of bench/run's quota convergence figure: list the PENDING invitations, then
accept each with N threads, with botocore's `standard` or `adaptive` retry mode.

    python3 bench/boto3_accept.py ENDPOINT MODE CONCURRENCY [IDS_FILE [APP]]

With IDS_FILE (a CSV with an `id` column), accepts those instead of listing; with APP, names
itself `app/APP` in its User-Agent, so the emulator counts its refusals apart.
Prints {"accepted": n, "failed": n, "seconds": s} (seconds: the accept phase only).
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from emulator_client import partner_central, read_ids

endpoint, mode, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids_file = sys.argv[4] if len(sys.argv) > 4 else None
app = sys.argv[5] if len(sys.argv) > 5 else None
client = partner_central(endpoint, retries={"mode": mode, "max_attempts": 10}, max_pool_connections=concurrency,
                         user_agent_appid=app)
ids = []
if ids_file:
    ids = read_ids(ids_file)
else:
    for page in client.get_paginator("list_engagement_invitations").paginate(
        Catalog="AWS", ParticipantType="RECEIVER", Status=["PENDING"]
    ):
        ids += [s["Id"] for s in page["EngagementInvitationSummaries"]]


def accept(pair):
    index, identifier = pair
    try:
        client.start_engagement_by_accepting_invitation_task(
            Catalog="AWS", Identifier=identifier, ClientToken=f"boto3-{app}-{index}"
        )
        return True
    except Exception:  # noqa: BLE001 - a failed accept is counted, not raised
        return False


started = time.monotonic()
with ThreadPoolExecutor(concurrency) as pool:
    results = list(pool.map(accept, enumerate(ids)))
seconds = time.monotonic() - started
print(json.dumps({"accepted": sum(results), "failed": len(results) - sum(results), "seconds": round(seconds, 3)}))
