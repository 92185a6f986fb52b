#!/bin/sh
# The work of examples/job-worker.yaml: a stand-in for a partner's deployment, run by the
# playbook's `exec` step once per acknowledged job. Replace the middle with your own work.
#
# Input comes in the environment (the step's `env:`), never spliced into a command line:
#   JOB_ID       the CodePipeline job
#   TARGET       the action configuration's Target
#   MODE         the action configuration's Mode (`fail` makes this script fail)
#   DEPLOY_ROOT  where deployments are recorded
#   HANDOFF_ITEM_KEY  set by handoff: stable for this job across `--resume`, so a re-run
#                     after a crash (handoff runs work at least once) finds its own record
# Output: one JSON document on stdout (the step says `output: json`); on failure, the reason
# on stderr, which the playbook reports to CodePipeline as the failure message.
set -eu

: "${JOB_ID:?JOB_ID is not set}" "${TARGET:?TARGET is not set}"
root="${DEPLOY_ROOT:-${TMPDIR:-/tmp}/handoff-deployments}"

if [ "${MODE:-deploy}" = fail ]; then
  echo "deployment refused: the job's configuration asks for Mode=fail" >&2
  exit 3
fi

mkdir -p "$root"
record="$root/$HANDOFF_ITEM_KEY.deployment"
if [ -e "$record" ]; then
  state=already-deployed
else
  # Write then rename: a record is whole or absent, whatever stops this script.
  printf 'job=%s\ntarget=%s\n' "$JOB_ID" "$TARGET" > "$record.tmp"
  mv "$record.tmp" "$record"
  state=deployed
fi
bytes=$(wc -c < "$record" | tr -d ' ')
printf '{"state": "%s", "record": "%s.deployment", "bytes": %s}\n' "$state" "$HANDOFF_ITEM_KEY" "$bytes"
