#!/usr/bin/env bash
# bench/run.sh: builds Release in build/bench and compares rdiag-agent with
# OpenSSH sshd on 127.0.0.1, both driven by the same libssh client
# (bench/connect_bench.cpp). Method and results: docs/PERFORMANCE.md.
#
#   bench/run.sh                      # 200 iterations, 50 held sessions
#   RDIAG_BENCH_ITERATIONS=50 RDIAG_BENCH_SESSIONS=20 bench/run.sh
#
# Installs nothing beyond scripts/deps.sh. The sshd baseline needs root (sshd
# must log a real user in; TESTING-NOTES.md); without root it is skipped.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build/bench"
ITERATIONS=${RDIAG_BENCH_ITERATIONS:-200}
WARMUP=${RDIAG_BENCH_WARMUP:-10}
SESSIONS=${RDIAG_BENCH_SESSIONS:-50}
HOLD_MAX_S=60        # the driver lets go of held sessions by itself after this
START_TIMEOUT_S=15   # for a server to print that it listens
LATENCY_TIMEOUT_S=150

say() { printf '%s\n' "$*"; }
note() { printf 'bench: %s\n' "$*" >&2; }
die() { note "$*"; exit 1; }

# ---------------------------------------------------------------- processes
WORK=""
STARTED=()   # every server or driver pid we started; cleanup kills their trees

# PID and all its descendants, one a line (ps snapshot, so processes that end
# meanwhile are simply missing).
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      keep[root] = 1; grew = 1
      while (grew) { grew = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 } }
      if (root in parent) for (p in keep) print p
    }'
}

kill_tree() {
  local pids
  pids=$(tree_pids "$1")
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 20); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do kill_tree "$pid"; done
  [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE REGEX SECONDS: true once a line of FILE matches.
wait_for() {
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    grep -Eq "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# Sum of one smaps_rollup field (kB) over a process tree.
tree_kb() {
  local field=$2 pid total=0 kb
  for pid in $(tree_pids "$1"); do
    kb=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

# CPU time (user+system, in clock ticks) a server has used, including every
# per-connection process it has reaped (cutime/cstime): the server-side cost of
# connections, independent of how long they waited for a CPU.
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

json_num() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -1 | cut -d: -f2; }
json_str() { grep -o "\"$2\":\"[^\"]*\"" <<<"$1" | head -1 | cut -d'"' -f4; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---------------------------------------------------------------- build
"$ROOT/scripts/deps.sh"
note "building Release in $BUILD"
# -Wno-error=restrict: GCC 12 at -O3 reports a false -Wrestrict inside
# std::string's operator+ (GCC bug 105329); it stays a visible warning.
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRDIAG_BUILD_TESTS=OFF \
  -DRDIAG_WERROR=ON -DCMAKE_CXX_FLAGS=-Wno-error=restrict >/dev/null
cmake --build "$BUILD" --target rdiag-agent connect_bench >/dev/null
AGENT="$BUILD/agent/rdiag-agent"
DRIVER="$BUILD/bench/connect_bench"
SSHD=/usr/sbin/sshd

WORK=$(mktemp -d /tmp/rdiag-bench.XXXXXX)
ssh-keygen -q -t ed25519 -N '' -C rdiag-bench -f "$WORK/engineer"
# The agent refuses an engineers file that group or others can write.
install -m 600 "$WORK/engineer.pub" "$WORK/engineers"

# ---------------------------------------------------------------- machine
machine_details() {
  local cpu mem debian libssh openssh
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  debian=$(cat /etc/debian_version 2>/dev/null || echo unknown)
  libssh=$(dpkg-query -W -f='${Version}' libssh-4 2>/dev/null || echo unknown)
  openssh=$(ssh -V 2>&1)
  say "Machine"
  say "  CPUs:     $(nproc) x ${cpu:-unknown}"
  say "  Memory:   $mem"
  say "  Kernel:   $(uname -sr)"
  say "  Debian:   $debian"
  say "  libssh:   $libssh"
  say "  OpenSSH:  $openssh"
  say "  Compiler: $(c++ --version | head -1)"
  say "  Load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start; other work skews timings)"
  say ""
}

# ---------------------------------------------------------------- servers
AGENT_PID=""
AGENT_PORT=""
start_agent() {
  cat >"$WORK/agent.json" <<EOF
{"state_dir": "$WORK/state", "engineers_file": "$WORK/engineers",
 "limits": {"max_startups": "100:30:200", "max_per_source": 100}}
EOF
  "$AGENT" --config "$WORK/agent.json" run --listen 127.0.0.1:0 \
    >"$WORK/agent.out" 2>"$WORK/agent.log" &
  AGENT_PID=$!
  STARTED+=("$AGENT_PID")
  wait_for "$WORK/agent.out" '^listening on 127\.0\.0\.1:[0-9]+' "$START_TIMEOUT_S" ||
    die "rdiag-agent did not start; its log: $(tail -5 "$WORK/agent.log")"
  AGENT_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/agent.out")
}

SSHD_PID=""
SSHD_PORT=""
SSHD_SKIP=""
write_sshd_config() {
  # Same algorithm lists as the agent (agent/ssh/algorithms.h), so both servers
  # negotiate curve25519-sha256 + chacha20-poly1305 and do equal crypto work.
  cat >"$WORK/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $1
HostKey $WORK/sshd_host_ed25519
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/engineers
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitUserRC no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr
MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com
HostKeyAlgorithms ssh-ed25519
# sshd starts a subsystem through the user's login shell; bash run by sshd
# reads ~/.bashrc unless it is a nested shell (SHLVL >= 2 after its own
# increment). This machine's root .bashrc runs pyenv, which would be measured
# instead of sshd.
SetEnv SHLVL=1
Subsystem rdiag-v1 $ROOT/bench/echo_subsystem.sh
EOF
}

start_sshd() {
  if [ "$(id -u)" -ne 0 ]; then
    SSHD_SKIP="not root: sshd must log in a real user (root); run as root for the baseline"
    return
  fi
  [ -x "$SSHD" ] || { SSHD_SKIP="$SSHD not found (openssh-server)"; return; }
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -C rdiag-bench-sshd -f "$WORK/sshd_host_ed25519"
  local attempt
  for attempt in 1 2 3; do
    SSHD_PORT=$("$DRIVER" free-port)
    write_sshd_config "$SSHD_PORT"
    "$SSHD" -t -f "$WORK/sshd_config" 2>"$WORK/sshd.log" ||
      { SSHD_SKIP="sshd rejected the config: $(cat "$WORK/sshd.log")"; return; }
    "$SSHD" -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" &
    SSHD_PID=$!
    STARTED+=("$SSHD_PID")
    if wait_for "$WORK/sshd.log" "Server listening on 127\.0\.0\.1 port $SSHD_PORT" "$START_TIMEOUT_S"; then
      return
    fi
    kill_tree "$SSHD_PID"   # most likely the port was taken meanwhile: try another
    note "sshd attempt $attempt failed: $(tail -2 "$WORK/sshd.log")"
  done
  SSHD_SKIP="sshd did not start (see messages above)"
  SSHD_PID=""
}

# ---------------------------------------------------------------- memory
# measure_memory NAME PORT SERVER_PID: PSS of the server's process tree idle,
# then with SESSIONS authenticated sessions held open (subsystem running, one
# request answered on each). Sets MEM=(idle held procs_idle procs_held
# anon_idle anon_held), sizes in kB.
MEM=()
measure_memory() {
  local name=$1 port=$2 pid=$3 out="$WORK/hold-$1.out" driver
  sleep 0.5
  MEM=("$(tree_kb "$pid" Pss)" 0 "$(tree_pids "$pid" | wc -l)" 0 "$(tree_kb "$pid" Pss_Anon)" 0)
  "$DRIVER" hold --target "$name=127.0.0.1:$port" --key "$WORK/engineer" \
    --sessions "$SESSIONS" --hold-max "$HOLD_MAX_S" >"$out" 2>"$WORK/hold-$name.err" &
  driver=$!
  STARTED+=("$driver")
  wait_for "$out" '"ready":' "$HOLD_MAX_S" ||
    die "$name: could not hold $SESSIONS sessions: $(cat "$WORK/hold-$name.err")"
  sleep 1   # let every connection settle into its idle state
  MEM[1]=$(tree_kb "$pid" Pss)
  MEM[3]=$(tree_pids "$pid" | wc -l)
  MEM[5]=$(tree_kb "$pid" Pss_Anon)
  kill -USR1 "$driver" 2>/dev/null || true
  wait "$driver" || note "$name: hold driver exited with an error"
}

# ---------------------------------------------------------------- run
T0=$SECONDS
machine_details

# Memory first, each server alone, so neither shares library pages with the
# other (PSS splits a shared page among everyone who maps it).
start_agent
note "rdiag-agent on 127.0.0.1:$AGENT_PORT (pid $AGENT_PID): memory, $SESSIONS held sessions"
measure_memory rdiag "$AGENT_PORT" "$AGENT_PID"
read -r A_IDLE A_HELD A_PI A_PH A_AI A_AH <<<"${MEM[*]}"
kill_tree "$AGENT_PID"

start_sshd
if [ -z "$SSHD_SKIP" ]; then
  note "sshd on 127.0.0.1:$SSHD_PORT (pid $SSHD_PID): memory, $SESSIONS held sessions"
  measure_memory sshd "$SSHD_PORT" "$SSHD_PID"
  read -r S_IDLE S_HELD S_PI S_PH S_AI S_AH <<<"${MEM[*]}"
else
  note "skipping the OpenSSH baseline: $SSHD_SKIP"
fi

# Latency with both up, iterations interleaved (rdiag, sshd, rdiag, ...).
start_agent
targets=(--target "rdiag=127.0.0.1:$AGENT_PORT")
[ -z "$SSHD_SKIP" ] && targets+=(--target "sshd=127.0.0.1:$SSHD_PORT")
note "latency: $ITERATIONS iterations after $WARMUP warm-up, interleaved"
A_CPU0=$(cpu_ticks "$AGENT_PID")
S_CPU0=$([ -z "$SSHD_SKIP" ] && cpu_ticks "$SSHD_PID" || echo 0)
timeout "$LATENCY_TIMEOUT_S" "$DRIVER" latency "${targets[@]}" --key "$WORK/engineer" \
  --iterations "$ITERATIONS" --warmup "$WARMUP" >"$WORK/latency.json" ||
  note "latency driver reported failures (see the failures column)"
sleep 0.5   # the last connection processes exit and are reaped
CYCLES=$((ITERATIONS + WARMUP))
HZ=$(getconf CLK_TCK)
cpu_per_conn() { awk -v d="$(($2 - $1))" -v hz="$HZ" -v n="$CYCLES" 'BEGIN { printf "%.1f", d * 1000 / hz / n }'; }
A_CPU=$(cpu_per_conn "$A_CPU0" "$(cpu_ticks "$AGENT_PID")")
[ -z "$SSHD_SKIP" ] && S_CPU=$(cpu_per_conn "$S_CPU0" "$(cpu_ticks "$SSHD_PID")")
A_LAT=$(grep '"target":"rdiag"' "$WORK/latency.json" || true)
S_LAT=$(grep '"target":"sshd"' "$WORK/latency.json" || true)
[ -n "$A_LAT" ] || die "no latency result for rdiag-agent"

# ---------------------------------------------------------------- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "met" : "MISSED" }'; }
per_conn() { awk -v i="$1" -v h="$2" -v n="$SESSIONS" 'BEGIN { printf "%.0f", (h - i) / n }'; }

say "1. Connect + agent.info round trip, ms ($ITERATIONS sequential iterations each, same libssh client)"
say "   negotiated: rdiag $(json_str "$A_LAT" kex) / $(json_str "$A_LAT" cipher) / $(json_str "$A_LAT" hmac)${S_LAT:+; sshd $(json_str "$S_LAT" kex) / $(json_str "$S_LAT" cipher) / $(json_str "$S_LAT" hmac)}"
printf '   %-8s %8s %8s %8s %8s %8s\n' "" min median p90 max failures
for row in "rdiag:$A_LAT" "sshd:$S_LAT"; do
  name=${row%%:*}
  line=${row#*:}
  [ -n "$line" ] || continue
  printf '   %-8s %8s %8s %8s %8s %8s\n' "$name" "$(json_num "$line" min_ms)" \
    "$(json_num "$line" median_ms)" "$(json_num "$line" p90_ms)" "$(json_num "$line" max_ms)" \
    "$(json_num "$line" failures)"
done
say "   median by phase:"
printf '   %-8s %12s %8s %18s %8s %8s\n' "" connect+kex auth channel+subsys rpc close
for row in "rdiag:$A_LAT" "sshd:$S_LAT"; do
  name=${row%%:*}
  line=${row#*:}
  [ -n "$line" ] || continue
  printf '   %-8s %12s %8s %18s %8s %8s\n' "$name" "$(json_num "$line" connect_kex)" \
    "$(json_num "$line" auth)" "$(json_num "$line" channel_subsystem)" \
    "$(json_num "$line" rpc)" "$(json_num "$line" close)"
done
say "   server CPU per connection (user+sys of the server and its reaped children, ms): rdiag $A_CPU${S_LAT:+, sshd $S_CPU (ratio $(ratio "$A_CPU" "$S_CPU"))}"
if [ -n "$S_LAT" ]; then
  for q in min_ms median_ms p90_ms; do
    r=$(ratio "$(json_num "$A_LAT" $q)" "$(json_num "$S_LAT" $q)")
    say "   ratio rdiag/sshd ${q%_ms}: $r"
  done
  r=$(ratio "$(json_num "$A_LAT" median_ms)" "$(json_num "$S_LAT" median_ms)")
  say "   goal median ratio <= 1.00: $(verdict "$r" 1.0)"
else
  say "   sshd: skipped ($SSHD_SKIP)"
fi
say ""

say "2. Memory: PSS of the server's whole process tree, MiB ($SESSIONS idle authenticated sessions)"
printf '   %-8s %8s %10s %14s %16s %14s\n' "" idle "with $SESSIONS" "per conn KiB" "anon/conn KiB" "procs/conn"
A_PC=$(per_conn "$A_IDLE" "$A_HELD")
printf '   %-8s %8s %10s %14s %16s %14s\n' rdiag "$(mib "$A_IDLE")" "$(mib "$A_HELD")" "$A_PC" \
  "$(per_conn "$A_AI" "$A_AH")" "$(awk -v a="$A_PI" -v b="$A_PH" -v n="$SESSIONS" 'BEGIN { printf "%.1f", (b - a) / n }')"
if [ -z "$SSHD_SKIP" ]; then
  S_PC=$(per_conn "$S_IDLE" "$S_HELD")
  printf '   %-8s %8s %10s %14s %16s %14s\n' sshd "$(mib "$S_IDLE")" "$(mib "$S_HELD")" "$S_PC" \
    "$(per_conn "$S_AI" "$S_AH")" "$(awk -v a="$S_PI" -v b="$S_PH" -v n="$SESSIONS" 'BEGIN { printf "%.1f", (b - a) / n }')"
  say "   ratio rdiag/sshd per connection: $(ratio "$A_PC" "$S_PC"); idle: $(ratio "$A_IDLE" "$S_IDLE")"
fi
say "   goal agent idle <= 10 MiB: $(verdict "$A_IDLE" 10240); per idle connection <= 2 MiB: $(verdict "$A_PC" 2048)"
say ""
say "Raw driver output:"
sed 's/^/   /' "$WORK/latency.json"
say "Load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
say "Total time: $((SECONDS - T0)) s (build excluded)"
