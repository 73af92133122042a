#!/usr/bin/env bash
# `make demo`: the whole Tributary pipeline on this machine, no AWS account.
#
# Generates a multi-table DMS dataset (demo/generate.py: full load, then CDC rounds with updates,
# deletes, re-inserts, a partition move, an added column, one malformed file, and a table ordered
# by its string commit timestamp alone with CDC files in DMS date folders), starts the
# local AWS emulator, applies the tables' manifest, stages each round into the staging bucket
# (S3 → EventBridge → SQS, as in AWS) and runs the pipeline until idle. Then it shows what an
# operator would look at — status, refresh counts, the quarantined file and its error, the Glue
# schema — exports each lake table and checks it row by row against the generator's source of
# truth with DuckDB (demo/verify.py). Exits non-zero on any mismatch; stops the emulator on every
# exit path.
set -euo pipefail

venv=${VENV:-.venv}
tributary=${TRIBUTARY:?set TRIBUTARY to the tributary binary}
work=${DEMO_DIR:-dist/demo}
scale=${DEMO_SCALE:-1}
state="$work/local"
cli=("$tributary" --local-dir "$state" --prefix demo)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

rm -rf "$work"
mkdir -p "$work"
trap '"${cli[@]}" local down >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
started=$SECONDS

step "Generating the DMS dataset (scale $scale)"
"$venv/bin/python" demo/generate.py "$work/data" --scale "$scale"

step "Starting the local AWS emulator and creating the stack's resources (infra/template.yaml)"
"${cli[@]}" local up --emulator "$venv/bin/moto_server"

step "Applying the table manifest"
"${cli[@]}" --local config apply "$work/data/tributary.yaml"

for round in "$work"/data/rounds/*/; do
  name=$(basename "$round")
  step "Round $name: staging its files, then running the pipeline until idle"
  "${cli[@]}" --local local stage "$round"
  "${cli[@]}" --local local run --until-idle
done

step "Status"
"${cli[@]}" --local status

# Captured first (not in a process substitution) so a failing `status` stops the demo here.
status_json=$("${cli[@]}" --local --json status)
mapfile -t tables < <("$venv/bin/python" -c \
  'import json, sys; print("\n".join(t["table"] for t in json.load(sys.stdin)["tables"]))' \
  <<<"$status_json")
if [[ ${#tables[@]} -eq 0 ]]; then
  echo "demo: status lists no table" >&2
  exit 1
fi

for table in "${tables[@]}"; do
  step "$table: refreshes (newest first) and quarantined files"
  "${cli[@]}" --local history --table "$table"
  "${cli[@]}" --local files --table "$table" --status quarantined
done

for table in "${tables[@]}"; do
  step "$table: exporting the current partitions (Glue schema below)"
  "${cli[@]}" --local local export --table "$table" "$work/lake/$table"
done

step "Checking every table against the source of truth (DuckDB)"
"$venv/bin/python" demo/verify.py --expected "$work/data/expected" --lake "$work/lake"

printf '\nDemo finished in %d s; the exported tables stay in %s.\n' $((SECONDS - started)) "$work/lake"
