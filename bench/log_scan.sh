#!/usr/bin/env bash
# bench/log_scan.sh: the redaction and log-scanning engine against ripgrep on
# the same generated ERP-style log and the same 20 rules (bench/scan_bench.cpp).
#
#   bench/log_scan.sh                          # 500 MB log, best of 3 runs
#   RDIAG_BENCH_LOG_MB=100 RDIAG_BENCH_RUNS=2 bench/log_scan.sh
#   RDIAG_BENCH_LOG_FILE=/path/erp.log bench/log_scan.sh   # reuse a log
#   RDIAG_BENCH_BUILD=DIR bench/log_scan.sh   # build somewhere else than build/bench
#
# ripgrep only counts (`rg -c -f rules`, one pass, any rule); rdiag also
# counts per rule and redacts every line. Two rdiag figures: the engine alone
# (scan_bench: the file handed to it by read(2) or mmap), and a whole
# logs.scan job through the real collector worker (bench/logs_scan_job.py:
# rdiag-worker started as the agent starts it, the 20 rules in a plugin, the
# log as a source, compiled by rdiag-compile, samples and first/last seen
# kept, the result written back as JSON). Both are timed on a warm page
# cache, by wall clock and by CPU time (user + system): on a shared machine
# CPU time is the fairer figure. The report is printed and kept in
# build/bench/last-log-scan.txt.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${RDIAG_BENCH_BUILD:-"$ROOT/build/bench"}
MB=${RDIAG_BENCH_LOG_MB:-500}
RUNS=${RDIAG_BENCH_RUNS:-3}
RG=${RDIAG_BENCH_RG:-/usr/bin/rg}

note() { printf 'bench: %s\n' "$*" >&2; }
die() { note "$*"; exit 1; }

[ -x "$RG" ] || die "ripgrep not found at $RG (apt-get install ripgrep)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

note "building scan_bench (Release) in $BUILD"
mkdir -p "$BUILD"
{
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRDIAG_BUILD_TESTS=OFF \
    -DRDIAG_WERROR=ON &&
    cmake --build "$BUILD" --target scan_bench rdiag-worker rdiag-compile
} >"$BUILD/build.log" 2>&1 || { tail -40 "$BUILD/build.log" >&2; die "build failed (log: $BUILD/build.log)"; }
BENCH="$BUILD/bench/scan_bench"

LOG=${RDIAG_BENCH_LOG_FILE:-}
if [ -z "$LOG" ]; then
  LOG="$WORK/erp.log"
  note "generating a ${MB} MB ERP-style log"
  "$BENCH" generate --out "$LOG" --mb "$MB"
fi
"$BENCH" rules >"$WORK/rules.txt"
cat "$LOG" >/dev/null  # warm the page cache for both tools

# Best wall and best CPU seconds of RUNS runs of a command (output discarded).
best_of() {
  local wall=999999 cpu=999999 w u s
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$@" >/dev/null
    read -r w u s <"$WORK/time"
    wall=$(awk -v a="$wall" -v b="$w" 'BEGIN { print (b < a ? b : a) }')
    cpu=$(awk -v a="$cpu" -v b="$u" -v c="$s" 'BEGIN { print (b + c < a ? b + c : a) }')
  done
  echo "$wall $cpu"
}

BYTES=$(stat -c %s "$LOG")
row() {  # name wall cpu
  awk -v n="$1" -v w="$2" -v c="$3" -v b="$BYTES" 'BEGIN {
    printf "%-34s %8.2f s %7.2f GB/s %8.2f s %7.2f GB/s\n", n, w, b / w / 1e9, c, b / c / 1e9 }'
}

note "ripgrep"
read -r RG_WALL RG_CPU < <(best_of "$RG" -c -f "$WORK/rules.txt" "$LOG")
note "rdiag (read)"
READ_JSON=$("$BENCH" scan --file "$LOG" --runs "$RUNS")
note "rdiag (mmap)"
MMAP_JSON=$("$BENCH" scan --file "$LOG" --runs "$RUNS" --mmap)
note "rdiag logs.scan job (rdiag-worker)"
JOB_JSON=$(python3 "$ROOT/bench/logs_scan_job.py" "$BUILD/agent/rdiag-worker" \
  "$BUILD/agent/rdiag-compile" "$LOG" "$WORK/rules.txt" "$RUNS")
field() {
  python3 -c 'import json, sys
v = json.loads(sys.argv[1])[sys.argv[2]]
print(json.dumps(v) if isinstance(v, dict) else v)' "$1" "$2"
}

{
  echo "log scan: $(awk -v b="$BYTES" 'BEGIN { printf "%.0f MB", b / 1e6 }'), $(field "$READ_JSON" lines) lines, 20 rules, best of $RUNS, $(nproc) cores, $(uname -r)"
  echo "ripgrep: $("$RG" --version | sed -n 1p); matching lines: $("$RG" -c -f "$WORK/rules.txt" "$LOG")"
  printf "%-34s %10s %12s %10s %12s\n" "" "wall" "" "cpu" ""
  row "rg -c -f rules (count only)" "$RG_WALL" "$RG_CPU"
  row "rdiag scan+redact, read(2)" "$(field "$READ_JSON" seconds)" "$(field "$READ_JSON" cpu_seconds)"
  row "rdiag scan+redact, mmap" "$(field "$MMAP_JSON" seconds)" "$(field "$MMAP_JSON" cpu_seconds)"
  row "rdiag logs.scan job (worker)" "$(field "$JOB_JSON" seconds)" "$(field "$JOB_JSON" cpu_seconds)"
  echo "rdiag redactions: $(field "$READ_JSON" redactions)"
  echo "rdiag lines failed closed: $(field "$READ_JSON" failed_closed)"
  echo "logs.scan job: lines per rule $(field "$JOB_JSON" rules), redactions $(field "$JOB_JSON" redactions)"
} | tee "$BUILD/last-log-scan.txt"
