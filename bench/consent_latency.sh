#!/usr/bin/env bash
# Approval-to-usable latency: from the moment customer IT runs
# `rdiag-agent approve REQ` to the moment the engineer's waiting
# `rdiag request` returns with the grant, over real processes on 127.0.0.1.
# Each run: the console requests and waits (session.wait long poll), the
# script sees the request pending, takes t0, runs approve, and takes t1 when
# the console exits; then the console closes the session for the next run.
# Prints each run and the median; the goal is a median <= 100 ms.
#
#   bench/consent_latency.sh BIN_DIR [RUNS]     (BIN_DIR holds agent/ and console/)
set -euo pipefail
export LC_ALL=C
BIN=${1:?usage: bench/consent_latency.sh BIN_DIR [RUNS]}
RUNS=${2:-50}
AGENT="$BIN/agent/rdiag-agent"
RDIAG="$BIN/console/rdiag"
WORK=$(mktemp -d /tmp/rdiag-consent-bench.XXXXXX)
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -C bench -f "$WORK/engineer"
printf 'rdiag-name="bench" %s\n' "$(cat "$WORK/engineer.pub")" > "$WORK/engineers"
chmod 600 "$WORK/engineers"
cat > "$WORK/agent.json" <<JSON
{ "state_dir": "$WORK/state", "engineers_file": "$WORK/engineers",
  "control_socket": "$WORK/control.sock",
  "limits": { "requests_per_hour": 1000 } }
JSON
"$AGENT" --config "$WORK/agent.json" run --listen 127.0.0.1:0 > "$WORK/agent.out" 2> "$WORK/agent.log" &
agent_pid=$!
for _ in $(seq 1 100); do grep -q '^listening on' "$WORK/agent.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/agent.out")
[ -n "$port" ] || { cat "$WORK/agent.log"; exit 1; }
console=("$RDIAG" --data-dir "$WORK/console" --key "$WORK/engineer")
admin=("$AGENT" --config "$WORK/agent.json")
"${console[@]}" sites add site "127.0.0.1:$port" >/dev/null
"${console[@]}" --accept-new info site >/dev/null

now_ns() { date +%s%N; }
results=()
for i in $(seq 1 "$RUNS"); do
  "${console[@]}" request site --ticket "BENCH-$i" --reason "latency run $i" --scopes diagnose \
    --minutes 5 > "$WORK/req.out" 2> "$WORK/req.err" &
  req_pid=$!
  id=""
  for _ in $(seq 1 500); do
    id=$("${admin[@]}" --json requests | python3 -c 'import json,sys; r=json.load(sys.stdin)["requests"]; print(r[0]["request_id"] if r else "")')
    [ -n "$id" ] && break
    sleep 0.01
  done
  [ -n "$id" ] || { echo "run $i: the request never showed up" >&2; cat "$WORK/req.err" >&2; exit 1; }
  # The console is in its session.wait once the request is pending; a short
  # pause makes sure its wait is parked in the agent, not still on its way.
  sleep 0.2
  t0=$(now_ns)
  "${admin[@]}" approve "$id" > /dev/null
  wait "$req_pid"
  t1=$(now_ns)
  ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
  results+=("$ms")
  printf 'run %2d: %s ms\n' "$i" "$ms"
  "${console[@]}" close site --outcome unresolved > /dev/null
done
median=$(printf '%s\n' "${results[@]}" | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
min=$(printf '%s\n' "${results[@]}" | sort -n | head -1)
max=$(printf '%s\n' "${results[@]}" | sort -n | tail -1)
echo "approval-to-usable over $RUNS runs: median $median ms (min $min, max $max); goal <= 100 ms"
echo "  (includes starting the rdiag-agent approve process and the console's exit)"
