#!/bin/sh
# The work of examples/long-job-worker.yaml: a job that takes longer than one poll, such as a
# database migration or a deployment an outside system carries out. `start` asks for the work
# and prints a ticket; `check TICKET` says whether it is done. Nothing runs in the background
# here (handoff ends every process a step starts): the outside system keeps the state. This
# stand-in keeps it in files under $WORK_ROOT, the work taking $WORK_SECONDS.
#
#   long-job.sh start        prints {"ticket": "..."}
#   long-job.sh check        (TICKET in the environment) prints {"state": "running"|"done", ...}
#
# Values come in the environment (the step's `env:`): JOB_ID, TARGET, TICKET.
set -eu

root="${WORK_ROOT:-${TMPDIR:-/tmp}/handoff-long-jobs}"
seconds="${WORK_SECONDS:-2}"
mkdir -p "$root"
now=$(date +%s)

case "${1:-}" in
  start)
    : "${JOB_ID:?JOB_ID is not set}"
    # The ticket must survive this job: CodePipeline hands it back in the next job's details.
    ticket="migration-$(printf %s "$JOB_ID" | cut -c1-8)-$now"
    printf '%s %s\n' "$((now + seconds))" "${TARGET:-default}" > "$root/$ticket"
    printf '{"ticket": "%s", "state": "running", "percent": 10}\n' "$ticket"
    ;;
  check)
    : "${TICKET:?TICKET is not set}"
    case "$TICKET" in
      */* | .*) echo "not a ticket of ours: $TICKET" >&2; exit 2 ;;
    esac
    if [ ! -f "$root/$TICKET" ]; then
      echo "ticket $TICKET is unknown: the work was lost" >&2
      exit 3
    fi
    read -r ready target < "$root/$TICKET"
    if [ "$now" -ge "$ready" ]; then
      printf '{"ticket": "%s", "state": "done", "percent": 100, "summary": "migrated %s"}\n' "$TICKET" "$target"
    else
      left=$((ready - now))
      printf '{"ticket": "%s", "state": "running", "percent": 50, "summary": "%s s left"}\n' "$TICKET" "$left"
    fi
    ;;
  *)
    echo "usage: long-job.sh start | check" >&2
    exit 64
    ;;
esac
