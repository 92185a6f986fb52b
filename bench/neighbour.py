"""Another client of the account's write quota, as a partner's CRM integration would be:
boto3 with retries off, one accept at evenly spaced times, whatever the answer. It names
itself (`app/neighbour` in its User-Agent), so the emulator's summary counts its refusals
apart from handoff's (`quota_clients`).

    python3 bench/neighbour.py ENDPOINT RATE SECONDS IDS_FILE

Sends at RATE per second for SECONDS (or until SIGTERM), then prints
{"sent": n, "refused": n, "started": unix time, "stopped": unix time}.
"""
import json
import signal
import sys
import time

from emulator_client import partner_central, read_ids

endpoint, rate, seconds, ids_file = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ids = read_ids(ids_file)
client = partner_central(endpoint, retries={"mode": "standard", "max_attempts": 1}, user_agent_appid="neighbour")
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
started = time.time()
begin = time.monotonic()
sent = refused = 0
while not stop and sent < len(ids):
    at = begin + sent / rate
    if at - begin >= seconds:
        break
    time.sleep(max(0.0, at - time.monotonic()))
    if stop:
        break
    try:
        client.start_engagement_by_accepting_invitation_task(
            Catalog="AWS", Identifier=ids[sent], ClientToken=f"neighbour-{sent}"
        )
    except client.exceptions.ThrottlingException:
        refused += 1
    except Exception:  # noqa: BLE001 - another refusal is still an answer; counted by the emulator
        pass
    sent += 1
print(json.dumps({"sent": sent, "refused": refused, "started": started, "stopped": time.time()}))
