#!/usr/bin/env bash
# bench/collect_vs_sos.sh: `rdiag-agent collect` (a signed, redacted offline
# bundle: every collector, the shipped plugins, the built-in checks and the
# plugins' log rules) against `sos report` with the comparable plugins
# (TESTING-NOTES.md), on this machine, in the same run.
#
#   bench/collect_vs_sos.sh                 # 5 runs each, interleaved
#   RDIAG_BENCH_RUNS=3 bench/collect_vs_sos.sh
#   RDIAG_BENCH_BUILD=DIR bench/collect_vs_sos.sh   # build somewhere else than build/bench
#
# Wall time and peak RSS come from GNU time (-f '%e %M'); the peak is the
# largest process of each tool's tree (wait4 accounts for waited-for
# descendants). Needs root (sos does). Installs sosreport and time if
# missing. The report is printed and kept in build/bench/last-collect-vs-sos.txt.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${RDIAG_BENCH_BUILD:-"$ROOT/build/bench"}
RUNS=${RDIAG_BENCH_RUNS:-5}
SOS_PLUGINS=kernel,process,memory,filesys,networking,logs,systemd,date,host

note() { printf 'bench: %s\n' "$*" >&2; }
die() { note "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "sos report needs root; run as root"
for pkg in sosreport time; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || {
    note "installing $pkg"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  }
done
"$ROOT/scripts/deps.sh" >/dev/null  # the rdiag account the worker runs as

note "building rdiag-agent (Release) in $BUILD"
mkdir -p "$BUILD"
{
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRDIAG_BUILD_TESTS=OFF \
    -DRDIAG_WERROR=ON && cmake --build "$BUILD" --target rdiag-agent
} >"$BUILD/build.log" 2>&1 || { tail -40 "$BUILD/build.log" >&2; die "build failed (log: $BUILD/build.log)"; }
AGENT="$BUILD/agent/rdiag-agent"

WORK=$(mktemp -d /tmp/rdiag-bench-collect-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 0755 "$WORK"
# The shipped plugins, installed as a package would (root-owned, not writable by others).
mkdir -p "$WORK/plugins" "$WORK/etc"
for p in postgresql mysql java-app; do
  install -d -m 0755 "$WORK/plugins/$p"
  install -m 0644 "$ROOT/plugins/$p/plugin.json" "$WORK/plugins/$p/"
  install -m 0755 "$ROOT/plugins/$p/collect" "$WORK/plugins/$p/"
done
: >"$WORK/etc/engineers"
cat >"$WORK/etc/agent.json" <<JSON
{ "state_dir": "$WORK/state", "engineers_file": "$WORK/etc/engineers",
  "plugins_dirs": ["$WORK/plugins"],
  "logs": [ { "name": "system", "paths": ["/var/log/*.log"] } ] }
JSON
"$AGENT" --config "$WORK/etc/agent.json" fingerprint --seal >/dev/null  # makes the keys

# One run of a command under GNU time: prints "seconds peak_kib".
measure() {
  local out="$WORK/time.txt"
  /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$WORK/stderr.txt" ||
    { cat "$WORK/stderr.txt" >&2; die "failed: $*"; }
  cat "$out"
}

div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

: >"$WORK/rdiag.txt"
: >"$WORK/sos.txt"
for i in $(seq 1 "$RUNS"); do
  note "run $i of $RUNS"
  rm -f "$WORK/bundle.tar.gz"
  measure "$AGENT" --config "$WORK/etc/agent.json" collect --out "$WORK/bundle.tar.gz" \
    >>"$WORK/rdiag.txt"
  rm -rf "$WORK/sos" && mkdir -p "$WORK/sos"
  measure sos report --batch --quiet --tmp-dir "$WORK/sos" -o "$SOS_PLUGINS" >>"$WORK/sos.txt"
done

r_s=$(cut -d' ' -f1 "$WORK/rdiag.txt" | median)
r_kb=$(cut -d' ' -f2 "$WORK/rdiag.txt" | median)
s_s=$(cut -d' ' -f1 "$WORK/sos.txt" | median)
s_kb=$(cut -d' ' -f2 "$WORK/sos.txt" | median)
bundle_kb=$(($(stat -c %s "$WORK/bundle.tar.gz") / 1024))
sos_bytes=$(find "$WORK/sos" -type f -name 'sosreport*' -printf '%s\n' | sort -n | tail -1)
sos_kb=$((${sos_bytes:-0} / 1024))

{
  echo "collect vs sos report, median of $RUNS runs each (interleaved), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "machine: $(nproc) CPUs, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo)," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-44s %8s %12s %10s\n' "tool" "wall s" "peak RSS MB" "output KB"
  printf '%-44s %8.2f %12.1f %10d\n' "rdiag-agent collect (signed bundle)" "$r_s" \
    "$(div "$r_kb" 1024)" "$bundle_kb"
  printf '%-44s %8.2f %12.1f %10d\n' "sos report -o $SOS_PLUGINS" "$s_s" \
    "$(div "$s_kb" 1024)" "$sos_kb"
  printf 'speed: rdiag is %.1fx faster (goal >= 10x)\n' "$(div "$s_s" "$r_s")"
  printf 'memory: rdiag peak RSS is %.2f of sos'"'"'s (goal <= 0.33)\n' "$(div "$r_kb" "$s_kb")"
} | tee "$BUILD/last-collect-vs-sos.txt"
