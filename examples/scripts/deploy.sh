#!/bin/sh
# The work of examples/job-worker.yaml: a stand-in for a partner's deployment, run by the
# playbook's `exec` step once per acknowledged job, after `download-artifacts` unzipped the
# job's input artifact. Replace the middle with your own work.
#
# Input comes in the environment (the step's `env:`), never spliced into a command line:
#   JOB_ID       the CodePipeline job
#   TARGET       the action configuration's Target
#   MODE         the action configuration's Mode (`fail` makes this script fail)
#   SOURCE_DIR   the job's input artifact, unzipped (read it)
#   OUTPUT_DIR   the job's output artifact directory (what is left here is zipped and
#                uploaded by the playbook's `upload-artifacts` step)
#   DEPLOY_ROOT  where deployments are recorded
#   HANDOFF_ITEM_KEY  set by handoff: stable for this job across `--resume`, so a re-run
#                     after a crash (handoff runs work at least once) finds its own record
# Output: one JSON document on stdout (the step says `output: json`); on failure, the reason
# on stderr, which the playbook reports to CodePipeline as the failure message.
set -eu

: "${JOB_ID:?JOB_ID is not set}" "${TARGET:?TARGET is not set}"
: "${SOURCE_DIR:?SOURCE_DIR is not set}" "${OUTPUT_DIR:?OUTPUT_DIR is not set}"
root="${DEPLOY_ROOT:-${TMPDIR:-/tmp}/handoff-deployments}"

if [ "${MODE:-deploy}" = fail ]; then
  echo "deployment refused: the job's configuration asks for Mode=fail" >&2
  exit 3
fi
if [ ! -f "$SOURCE_DIR/app/VERSION" ]; then
  echo "the input artifact has no app/VERSION: is it this action's source?" >&2
  exit 4
fi
revision=$(head -n 1 "$SOURCE_DIR/app/VERSION")
files=$(find "$SOURCE_DIR" -type f | wc -l | tr -d ' ')

mkdir -p "$root"
record="$root/$HANDOFF_ITEM_KEY.deployment"
if [ -e "$record" ]; then
  state=already-deployed
else
  # Write then rename: a record is whole or absent, whatever stops this script.
  printf 'job=%s\ntarget=%s\nrevision=%s\n' "$JOB_ID" "$TARGET" "$revision" > "$record.tmp"
  mv "$record.tmp" "$record"
  state=deployed
fi

# The output artifact: what was deployed, and a manifest of the input it came from.
(cd "$SOURCE_DIR" && find . -type f | LC_ALL=C sort | while IFS= read -r f; do
  printf '%s  %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "${f#./}"
done) > "$OUTPUT_DIR/manifest.txt"
printf '{"job": "%s", "target": "%s", "revision": "%s", "state": "%s"}\n' \
  "$JOB_ID" "$TARGET" "$revision" "$state" > "$OUTPUT_DIR/deployment.json"

printf '{"state": "%s", "record": "%s.deployment", "revision": "%s", "summary": "%s %s at %s (%s files)"}\n' \
  "$state" "$HANDOFF_ITEM_KEY" "$revision" "$state" "$TARGET" "$(printf %.12s "$revision")" "$files"
