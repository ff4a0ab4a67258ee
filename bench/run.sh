#!/usr/bin/env bash
# bench/run.sh: builds Release in build/bench and compares rdiag-agent with
# OpenSSH sshd on 127.0.0.1, both driven by the same libssh client
# (bench/connect_bench.cpp). Method and results: docs/PERFORMANCE.md.
#
#   bench/run.sh              # everything: connect, then records
#   bench/run.sh connect      # rdiag-agent against sshd only
#   bench/run.sh records      # service records only (bench/records_bench.cpp)
#   bench/run.sh consent      # approval-to-usable latency (bench/consent_latency.sh)
#   RDIAG_BENCH_ITERATIONS=50 RDIAG_BENCH_SESSIONS=20 bench/run.sh   # quicker
#
# The records step appends with fdatasync, then verifies a large events.jsonl
# with verify_chain, sha256sum and the Python script from
# docs/record-format.md (RDIAG_BENCH_RECORD_EVENTS, RDIAG_BENCH_RECORD_MB).
#
# Installs nothing beyond scripts/deps.sh. The sshd baselines need root (sshd
# must log a real user in: TESTING-NOTES.md); without root they are skipped.
# The report is printed and kept in build/bench/last-run.txt (records:
# build/bench/last-records-run.txt).
set -euo pipefail
export LC_ALL=C  # decimal points and sorting as the parsing below expects

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build/bench"
ITERATIONS=${RDIAG_BENCH_ITERATIONS:-200}
WARMUP=${RDIAG_BENCH_WARMUP:-10}
SESSIONS=${RDIAG_BENCH_SESSIONS:-50}
HOLD_MAX_S=60          # a hold driver lets go of its sessions by itself after this
START_TIMEOUT_S=15     # for a server to say it listens
LATENCY_TIMEOUT_S=150  # for the whole interleaved latency run

note() { printf 'bench: %s\n' "$*" >&2; }
die() { note "$*"; exit 1; }

MODE=${1:-all}
case "$MODE" in
  all | connect | records | consent) ;;
  *) die "usage: bench/run.sh [all|connect|records|consent]" ;;
esac

# ------------------------------------------------------------------ processes
WORK=""
RWORK=""    # the records step's scratch folder (a 150 MB fixture)
STARTED=()  # every server and driver we started; cleanup ends their process trees

# PID and all its descendants, one a line (from one ps snapshot).
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      if (!(root in parent)) exit
      keep[root] = 1
      for (grew = 1; grew;) {
        grew = 0
        for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 }
      }
      for (p in keep) print p
    }'
}

kill_tree() {
  local pids
  pids=$(tree_pids "$1")
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086 # one pid a word
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
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
  if [ -n "$RWORK" ]; then rm -rf "$RWORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE REGEX SECONDS: true once a line of FILE matches.
wait_for() {
  local deadline=$((SECONDS + $3))
  while [ "$SECONDS" -lt "$deadline" ]; do
    grep -Eq "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# tree_kb PID FIELD: one smaps_rollup field (kB) summed over a process tree.
tree_kb() {
  local pid total=0 kb
  for pid in $(tree_pids "$1"); do
    kb=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

# CPU (user + system, clock ticks) a server has used, with every connection
# process it has reaped (cutime, cstime): the server-side cost of connections,
# whatever time they spent waiting for a CPU or a packet.
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

json_num() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -1 | cut -d: -f2; }
json_str() { grep -o "\"$2\":\"[^\"]*\"" <<<"$1" | head -1 | cut -d'"' -f4; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v != "-" && v <= g) ? "met" : "MISSED" }'; }

# ------------------------------------------------------------------ records
RECORD_EVENTS=${RDIAG_BENCH_RECORD_EVENTS:-5000}
RECORD_MB=${RDIAG_BENCH_RECORD_MB:-150}
# Debian's own python3 (an auditor's), not a pyenv shim earlier on PATH.
PYTHON=${RDIAG_BENCH_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

# A scratch folder on the state directory's filesystem: /var/lib holds
# /var/lib/rdiag on a packaged install.
records_workdir() {
  local base=${RDIAG_BENCH_STATE_BASE:-/var/lib}
  [ -w "$base" ] || base=${TMPDIR:-/tmp}
  mktemp -d "$base/rdiag-bench-records.XXXXXX"
}

# times_of RUNS CMD...: "wall_ms cpu_ms" (cpu = user + sys), each the least of
# RUNS runs; output discarded. CPU time is the steadier figure on a busy machine.
times_of() {
  local runs=$1 t w u c wall="" cpu=""
  shift
  for _ in $(seq "$runs"); do
    t=$({
      TIMEFORMAT='%3R %3U %3S'
      time "$@" >/dev/null 2>&1
    } 2>&1) || return 1
    read -r w u c <<<"$t"
    w=$(calc "%.0f" "$w * 1000")
    c=$(calc "%.0f" "($u + $c) * 1000")
    if [ -z "$wall" ] || [ "$w" -lt "$wall" ]; then wall=$w; fi
    if [ -z "$cpu" ] || [ "$c" -lt "$cpu" ]; then cpu=$c; fi
  done
  echo "$wall $cpu"
}

# The script section 8.7 of docs/record-format.md gives auditors, as it is there.
extract_chain_py() {
  awk '/^<!-- recipe:chain.py -->$/ { on = 1; next }
       on && /^```/ { if (inside) exit; inside = 1; next }
       inside { print }' "$ROOT/docs/record-format.md"
}

# mbs BYTES MS: megabytes (10^6) per second.
mbs() { calc "%.1f" "$1 / 1000 / $2"; }

records_step() {
  local bench="$BUILD/bench/records_bench" append fixture verify genesis last bytes lines
  local sum_wall sum_cpu py_wall py_cpu py_out v_wall v_cpu ssl_ms fs
  fs=$(findmnt -n -o FSTYPE,SOURCE,OPTIONS -T "$RWORK" 2>/dev/null | awk '{ print $1 " on " $2 " (" $3 ")" }')
  [ -n "$fs" ] || fs=$(stat -f -c %T "$RWORK")
  note "records: $RECORD_EVENTS appends with fdatasync in $RWORK ($fs)"
  mkdir "$RWORK/session"
  append=$("$bench" append --dir "$RWORK/session" --events "$RECORD_EVENTS")
  note "records: writing a $RECORD_MB MB fixture"
  fixture=$("$bench" fixture --out "$RWORK/events.jsonl" --mb "$RECORD_MB")
  genesis=$(json_str "$fixture" genesis)
  last=$(json_str "$fixture" last_hash)
  bytes=$(json_num "$fixture" bytes)
  lines=$(json_num "$fixture" lines)
  note "records: verify_chain, sha256sum and chain.py over it"
  verify=$("$bench" verify --file "$RWORK/events.jsonl" --genesis "$genesis" --last-hash "$last")
  v_wall=$(calc "%.0f" "$(json_num "$verify" seconds) * 1000")
  v_cpu=$(calc "%.0f" "$(json_num "$verify" cpu_seconds) * 1000")
  ssl_ms=$(calc "%.1f" "$bytes / 1000 / $(json_num "$verify" sha256_mb_s)")
  cat "$RWORK/events.jsonl" >/dev/null # in the page cache for every reader alike
  read -r sum_wall sum_cpu <<<"$(times_of 3 sha256sum "$RWORK/events.jsonl")"
  extract_chain_py >"$RWORK/chain.py"
  [ -s "$RWORK/chain.py" ] || die "no recipe:chain.py block in docs/record-format.md"
  py_out=$("$PYTHON" "$RWORK/chain.py" "$RWORK/events.jsonl" "$genesis")
  case "$py_out" in
    *"last hash $last"*) ;;
    *) die "chain.py did not end at the fixture's last hash: $py_out" ;;
  esac
  read -r py_wall py_cpu <<<"$(times_of 1 "$PYTHON" "$RWORK/chain.py" "$RWORK/events.jsonl" "$genesis")"

  echo "Service records"
  echo "  CPUs:        $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "  Kernel:      $(uname -sr)"
  echo "  Filesystem:  $fs, at $(dirname "$RWORK")"
  echo "  python3:     $("$PYTHON" --version 2>&1) ($(command -v "$PYTHON"))"
  echo "  Compiler:    $(c++ --version | head -1)"
  echo "  Load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at the end)"
  echo
  echo "1. Appends through records::Journal, each written and fdatasync'ed before the next"
  echo "   ($(json_num "$append" events) events, $(calc "%.0f" "$(json_num "$append" line_bytes)") bytes a line on average)"
  printf '   %10s %9s %9s %9s\n' events/s p50_ms p99_ms max_ms
  printf '   %10.0f %9.2f %9.2f %9.2f\n' "$(json_num "$append" per_s)" "$(json_num "$append" p50_ms)" \
    "$(json_num "$append" p99_ms)" "$(json_num "$append" max_ms)"
  echo
  echo "2. Verifying one $(calc "%.1f" "$bytes / 1000000") MB events.jsonl ($lines lines, page-cached; MB = 10^6 bytes)"
  printf '   %-34s %11s %10s %12s %15s\n' reader "MB/s wall" "MB/s CPU" "lines/s CPU" "CPU/sha256sum"
  printf '   %-34s %11s %10s %12.0f %15s\n' "verify_chain (C++, in memory)" "$(mbs "$bytes" "$v_wall")" \
    "$(mbs "$bytes" "$v_cpu")" "$(calc "%.0f" "$lines * 1000 / $v_cpu")" "$(ratio "$v_cpu" "$sum_cpu")"
  printf '   %-34s %11s %10s %12s %15s\n' "sha256sum (coreutils)" "$(mbs "$bytes" "$sum_wall")" \
    "$(mbs "$bytes" "$sum_cpu")" - 1.00
  printf '   %-34s %11s %10s %12s %15s\n' "OpenSSL SHA-256 (in memory)" "$(mbs "$bytes" "$ssl_ms")" - - \
    "$(ratio "$ssl_ms" "$sum_cpu")"
  printf '   %-34s %11s %10s %12.0f %15s\n' "chain.py ($("$PYTHON" --version 2>&1))" "$(mbs "$bytes" "$py_wall")" \
    "$(mbs "$bytes" "$py_cpu")" "$(calc "%.0f" "$lines * 1000 / $py_cpu")" "$(ratio "$py_cpu" "$sum_cpu")"
  echo "   (verify_chain and sha256sum: best of 3; chain.py: one run; sha256sum and chain.py read the"
  echo "   file, verify_chain and OpenSSL work on it in memory. The fixture was made by make_next_event"
  echo "   at $(calc "%.0f" "$(json_num "$fixture" per_s)") events/s without fsync.)"
  echo
  echo "Raw:"
  printf '  %s\n' "$append" "$fixture" "$verify"
}

# The records step with its report kept; the scratch folder is made here, not
# in the pipeline's subshell, so that cleanup removes it also on Ctrl-C.
run_records() {
  RWORK=$(records_workdir)
  records_step | tee "$BUILD/last-records-run.txt"
  rm -rf "$RWORK"
  RWORK=""
}

# ------------------------------------------------------------------ build
case "$MODE" in
  connect) TARGETS=(rdiag-agent connect_bench nodelay_preload) ;;
  records) TARGETS=(records_bench) ;;
  consent) TARGETS=(rdiag-agent rdiag) ;;
  *) TARGETS=(rdiag-agent rdiag connect_bench nodelay_preload records_bench) ;;
esac
"$ROOT/scripts/deps.sh"
note "building Release in $BUILD"
mkdir -p "$BUILD"
{
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRDIAG_BUILD_TESTS=OFF \
    -DRDIAG_WERROR=ON &&
    cmake --build "$BUILD" --target "${TARGETS[@]}"
} >"$BUILD/build.log" 2>&1 || { tail -40 "$BUILD/build.log" >&2; die "build failed (log: $BUILD/build.log)"; }
AGENT="$BUILD/agent/rdiag-agent"
DRIVER="$BUILD/bench/connect_bench"
NODELAY_SO="$BUILD/bench/libnodelay_preload.so"
SSHD=/usr/sbin/sshd

if [ "$MODE" = records ]; then
  run_records
  exit 0
fi
if [ "$MODE" = consent ]; then
  { echo "machine: $(nproc) CPUs ($(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed "s/^ //")), kernel $(uname -r)"
    "$ROOT/bench/consent_latency.sh" "$BUILD"; } | tee "$BUILD/last-consent-run.txt"
  exit 0
fi

WORK=$(mktemp -d /tmp/rdiag-bench.XXXXXX)
ssh-keygen -q -t ed25519 -N '' -C rdiag-bench -f "$WORK/engineer"
# The agent refuses an engineers file that group or others can write; sshd
# reads the same file as authorized_keys.
install -m 600 "$WORK/engineer.pub" "$WORK/engineers"

# ------------------------------------------------------------------ servers
declare -A PID PORT CPU LAT MEM
SSHD_SKIP=""

start_agent() {
  cat >"$WORK/agent.json" <<EOF
{"state_dir": "$WORK/state", "engineers_file": "$WORK/engineers",
 "limits": {"max_startups": "100:30:200", "max_per_source": 100}}
EOF
  : >"$WORK/agent.out"
  "$AGENT" --config "$WORK/agent.json" run --listen 127.0.0.1:0 \
    >"$WORK/agent.out" 2>>"$WORK/agent.log" &
  PID[rdiag]=$!
  STARTED+=("$!")
  wait_for "$WORK/agent.out" '^listening on 127\.0\.0\.1:[0-9]+' "$START_TIMEOUT_S" ||
    die "rdiag-agent did not start; its log ends: $(tail -5 "$WORK/agent.log")"
  PORT[rdiag]=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/agent.out")
}

write_sshd_config() {
  cat >"$WORK/sshd_config.$1" <<EOF
ListenAddress 127.0.0.1
Port $2
HostKey $WORK/sshd_host_ed25519
PidFile $WORK/sshd.$1.pid
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
# The agent's lists (agent/ssh/algorithms.h): both servers negotiate
# curve25519-sha256 + chacha20-poly1305 and do the same crypto.
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr
MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com
HostKeyAlgorithms ssh-ed25519
# sshd starts a subsystem through the user's login shell, and bash started by
# sshd reads ~/.bashrc unless it is a nested shell. A root .bashrc (pyenv on
# the test machines) would otherwise be measured instead of sshd.
SetEnv SHLVL=1
Subsystem rdiag-v1 $ROOT/bench/echo_subsystem.sh
EOF
}

# start_sshd NAME [LD_PRELOAD]: an sshd on a free loopback port.
start_sshd() {
  local name=$1 preload=${2:-} attempt log="$WORK/sshd.$1.log"
  [ -f "$WORK/sshd_host_ed25519" ] ||
    ssh-keygen -q -t ed25519 -N '' -C rdiag-bench-sshd -f "$WORK/sshd_host_ed25519"
  for attempt in 1 2 3; do
    PORT[$name]=$("$DRIVER" free-port)
    write_sshd_config "$name" "${PORT[$name]}"
    "$SSHD" -t -f "$WORK/sshd_config.$name" 2>"$log" ||
      { SSHD_SKIP="sshd rejected the config: $(cat "$log")"; return 1; }
    env ${preload:+LD_PRELOAD="$preload"} "$SSHD" -D -e -f "$WORK/sshd_config.$name" 2>"$log" &
    PID[$name]=$!
    STARTED+=("$!")
    wait_for "$log" "Server listening on 127\.0\.0\.1 port ${PORT[$name]}" "$START_TIMEOUT_S" && return 0
    kill_tree "${PID[$name]}"  # most likely the port was taken meanwhile: another one
    note "$name attempt $attempt failed: $(tail -2 "$log")"
  done
  SSHD_SKIP="sshd did not start (messages above)"
  return 1
}

# ------------------------------------------------------------------ memory
# measure_memory NAME: PSS of the server's process tree idle, then with
# SESSIONS authenticated sessions held open (subsystem running, one request
# answered on each). Sets MEM[NAME]="idle held procs_idle procs_held anon_idle anon_held" (kB).
measure_memory() {
  local name=$1 pid=${PID[$1]} out="$WORK/hold-$1.out" driver idle pi ai
  sleep 0.5
  idle=$(tree_kb "$pid" Pss)
  ai=$(tree_kb "$pid" Pss_Anon)
  pi=$(tree_pids "$pid" | wc -l)
  "$DRIVER" hold --target "$name=127.0.0.1:${PORT[$name]}" --key "$WORK/engineer" \
    --sessions "$SESSIONS" --hold-max "$HOLD_MAX_S" >"$out" 2>"$WORK/hold-$name.err" &
  driver=$!
  STARTED+=("$driver")
  wait_for "$out" '"ready":' "$HOLD_MAX_S" ||
    die "$name: could not hold $SESSIONS sessions: $(cat "$WORK/hold-$name.err")"
  sleep 1  # every connection settles into its idle state
  MEM[$name]="$idle $(tree_kb "$pid" Pss) $pi $(tree_pids "$pid" | wc -l) $ai $(tree_kb "$pid" Pss_Anon)"
  kill -USR1 "$driver" 2>/dev/null || true
  wait "$driver" || note "$name: the hold driver exited with an error"
}

# ------------------------------------------------------------------ run
T0=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$(id -u)" -ne 0 ]; then
  SSHD_SKIP="not root: sshd must log a real user in (root); run as root for the baselines"
elif [ ! -x "$SSHD" ]; then
  SSHD_SKIP="$SSHD not found (package openssh-server)"
else
  mkdir -p /run/sshd  # sshd's privilege-separation directory
fi

# Memory first, one server at a time: PSS splits a shared page among all who
# map it, so a second server mapping libcrypto would lower the first's figure.
start_agent
note "memory: rdiag-agent on 127.0.0.1:${PORT[rdiag]}, $SESSIONS held sessions"
measure_memory rdiag
kill_tree "${PID[rdiag]}"
if [ -z "$SSHD_SKIP" ] && start_sshd sshd; then
  note "memory: sshd on 127.0.0.1:${PORT[sshd]}, $SESSIONS held sessions"
  measure_memory sshd
fi

# Latency with every server up, iterations interleaved, so drift in the
# machine's load falls on all of them alike.
start_agent
NAMES=(rdiag)
if [ -z "$SSHD_SKIP" ]; then
  NAMES+=(sshd)
  if start_sshd sshd-nodelay "$NODELAY_SO"; then NAMES+=(sshd-nodelay); fi
else
  note "skipping the OpenSSH baselines: $SSHD_SKIP"
fi
targets=()
for n in "${NAMES[@]}"; do
  targets+=(--target "$n=127.0.0.1:${PORT[$n]}")
  CPU[$n]=$(cpu_ticks "${PID[$n]}")
done
note "latency: ${NAMES[*]}: $ITERATIONS iterations each after $WARMUP warm-up, interleaved"
# In the background and waited for, so that SIGINT/SIGTERM reach the trap at once.
timeout "$LATENCY_TIMEOUT_S" "$DRIVER" latency "${targets[@]}" --key "$WORK/engineer" \
  --iterations "$ITERATIONS" --warmup "$WARMUP" >"$WORK/latency.json" &
latency_pid=$!
STARTED+=("$latency_pid")
wait "$latency_pid" || note "the latency driver reported failures (see the failures column)"
sleep 0.5  # the last connection processes exit and are reaped
HZ=$(getconf CLK_TCK)
for n in "${NAMES[@]}"; do
  LAT[$n]=$(grep "\"target\":\"$n\"" "$WORK/latency.json" || true)
  [ -n "${LAT[$n]}" ] || die "no latency result for $n"
  CPU[$n]=$(calc "%.1f" "($(cpu_ticks "${PID[$n]}") - ${CPU[$n]}) * 1000 / $HZ / ($ITERATIONS + $WARMUP)")
done

# ------------------------------------------------------------------ report
machine_details() {
  echo "Machine"
  echo "  CPUs:      $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "  Memory:    $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "  Kernel:    $(uname -sr)"
  echo "  Debian:    $(cat /etc/debian_version 2>/dev/null || echo unknown)"
  echo "  libssh:    $(dpkg-query -W -f='${Version}' libssh-4 2>/dev/null || echo unknown)"
  echo "  OpenSSH:   $(ssh -V 2>&1)"
  echo "  Compiler:  $(c++ --version | head -1)"
  echo "  Load avg:  $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end (1/5/15 min)"
  echo
}

latency_report() {
  local n l base
  base=$(json_num "${LAT[rdiag]}" median_ms)
  echo "1. Connect + agent.info round trip (ms; $ITERATIONS iterations per server, same libssh client)"
  for n in "${NAMES[@]}"; do
    echo "   $n negotiated $(json_str "${LAT[$n]}" kex), $(json_str "${LAT[$n]}" cipher)"
  done
  printf '   %-13s %7s %7s %7s %7s %5s %12s %12s\n' server min median p90 max fail "CPU ms/conn" "rdiag/this"
  for n in "${NAMES[@]}"; do
    l=${LAT[$n]}
    printf '   %-13s %7.2f %7.2f %7.2f %7.2f %5s %12s %12s\n' "$n" "$(json_num "$l" min_ms)" \
      "$(json_num "$l" median_ms)" "$(json_num "$l" p90_ms)" "$(json_num "$l" max_ms)" \
      "$(json_num "$l" failures)" "${CPU[$n]}" "$(ratio "$base" "$(json_num "$l" median_ms)")"
  done
  echo "   median of each step (ms):"
  printf '   %-13s %11s %7s %15s %7s %7s\n' server connect+kex auth channel+subsys rpc close
  for n in "${NAMES[@]}"; do
    l=${LAT[$n]}
    printf '   %-13s %11.2f %7.2f %15.2f %7.2f %7.2f\n' "$n" "$(json_num "$l" connect_kex)" \
      "$(json_num "$l" auth)" "$(json_num "$l" channel_subsystem)" "$(json_num "$l" rpc)" \
      "$(json_num "$l" close)"
  done
  echo "   (rdiag/this = ratio of medians; CPU = user+sys of the server and its reaped children per connection)"
  echo
}

memory_report() {
  local n idle held pi ph ai ah
  echo "2. Memory: PSS summed over the server's process tree (MiB), idle and with $SESSIONS idle sessions"
  printf '   %-13s %7s %9s %15s %15s %11s\n' server idle "with $SESSIONS" "per conn (KiB)" "anon/conn (KiB)" "procs/conn"
  for n in rdiag sshd; do
    [ -n "${MEM[$n]:-}" ] || continue
    read -r idle held pi ph ai ah <<<"${MEM[$n]}"
    printf '   %-13s %7.1f %9.1f %15.0f %15.0f %11.1f\n' "$n" "$(calc "%.3f" "$idle / 1024")" \
      "$(calc "%.3f" "$held / 1024")" "$(calc "%.1f" "($held - $idle) / $SESSIONS")" \
      "$(calc "%.1f" "($ah - $ai) / $SESSIONS")" "$(calc "%.2f" "($ph - $pi) / $SESSIONS")"
  done
  echo "   (per conn = (PSS with $SESSIONS - PSS idle) / $SESSIONS; anon = the Pss_Anon part: heap, stacks, relocated data)"
  echo
}

goals_report() {
  local idle held r="-"
  read -r idle held _ <<<"${MEM[rdiag]}"
  [ -n "${LAT[sshd]:-}" ] &&
    r=$(ratio "$(json_num "${LAT[rdiag]}" median_ms)" "$(json_num "${LAT[sshd]}" median_ms)")
  echo "3. Goals"
  if [ -n "${LAT[sshd]:-}" ]; then
    echo "   median latency rdiag/sshd <= 1.00:  $r  $(verdict "$r" 1.0)"
  else
    echo "   median latency rdiag/sshd <= 1.00:  not measured ($SSHD_SKIP)"
  fi
  echo "   agent idle PSS <= 10 MiB:            $(calc "%.1f" "$idle / 1024") MiB  $(verdict "$idle" 10240)"
  echo "   agent PSS per idle connection <= 2 MiB: $(calc "%.2f" "($held - $idle) / $SESSIONS / 1024") MiB  $(verdict "$(calc "%.1f" "($held - $idle) / $SESSIONS")" 2048)"
  echo
  echo "Raw driver output:"
  sed 's/^/  /' "$WORK/latency.json"
  echo "Measured in $((SECONDS - T0)) s (build excluded)."
}

{
  machine_details
  latency_report
  memory_report
  goals_report
} | tee "$BUILD/last-run.txt"

if [ "$MODE" = all ]; then
  echo
  run_records
  echo
  "$ROOT/bench/consent_latency.sh" "$BUILD" | tee "$BUILD/last-consent-run.txt"
fi
