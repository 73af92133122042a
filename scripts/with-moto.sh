#!/usr/bin/env bash
# Runs a command with the local AWS emulator (moto server) on 127.0.0.1 and a free port, then stops
# the emulator — also when the command fails or is interrupted.
#
#   scripts/with-moto.sh cargo test --workspace
#
# The command sees AWS_ENDPOINT_URL, dummy credentials and a region, so every SDK client built from
# the standard configuration talks to the emulator and never to AWS.
set -euo pipefail

venv=${VENV:-.venv}
moto="$venv/bin/moto_server"
python="$venv/bin/python"
if [[ ! -x "$moto" ]]; then
  echo "with-moto: $moto not found; run 'make venv' first" >&2
  exit 2
fi

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
log=$(mktemp "${TMPDIR:-/tmp}/moto.XXXXXX")
"$moto" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!

command_pid=
stop_all() {
  if [[ -n "$command_pid" ]]; then kill -TERM "$command_pid" 2>/dev/null || true; fi
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$log"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! "$python" - "$port" "$moto_pid" <<'PY'
import os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
for _ in range(300):
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("moto server exited during start-up")
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit("moto server did not answer within 30 s")
PY
then
  cat "$log" >&2
  exit 1
fi

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
echo "with-moto: local AWS at $AWS_ENDPOINT_URL (pid $moto_pid)" >&2
# The command runs as a waited child so that an interrupt stops it and the emulator at once
# (bash runs traps only between commands).
"$@" &
command_pid=$!
status=0
wait "$command_pid" || status=$?
command_pid=
exit "$status"
