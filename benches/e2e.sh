#!/usr/bin/env bash
# End-to-end bulk scoring, measured side by side in one run (BENCHMARKS.md).
#
# Default (the original run):
#   - the bare serde_json baseline: read each JSON line into a Value, write it back, one thread;
#   - `leadscore score` of the same file with the starter rules, on all cores and on one;
#   - peak resident memory of `leadscore score` for N and for 10 x N leads.
#
# With --all (issue 14), each case beside its baseline, best of 3, runs alternated
# (baseline, case, baseline, case, ...) so a burst of load from elsewhere hits both:
#   a  starter rules/, default generated leads          vs serde_roundtrip of that file
#   b  starter rules/, high-cardinality leads            vs serde_roundtrip of that file
#   c  benches/models/twelve, high-cardinality and default leads
#   d  benches/models/heavy, high-cardinality leads
#   e  starter rules/ on CSV (default and high-cardinality) vs csv_roundtrip of that file
# `leadscore score` runs on all cores; the baselines on one thread.
#
# Usage: benches/e2e.sh [COUNT (default 1000000)] [--memory | --all]
# BASELINES=dir takes serde_roundtrip and csv_roundtrip from dir (the PGO builds of
# benches/pgo.sh: BASELINES=target/pgo/release/examples).
# LEADSCORE=path measures another `leadscore` binary (an older build, for a before/after
# table in one session).
# Byte-identity of the outputs before and after a change: benches/identical.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
mode=${2:-}
leadscore=${LEADSCORE:-target/release/leadscore}
baselines=${BASELINES:-target/release/examples}
. benches/lib.sh
cargo build --release --quiet --bin leadscore --example gen_leads --example serde_roundtrip \
  --example csv_roundtrip

input=$(leads jsonl low)

# Wall seconds and peak RSS (KiB) of a command, best of 3 runs.
measure() {
  local best_s="" best_kb=""
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$dir/time" "$@" > /dev/null
    read -r s kb < "$dir/time"
    if [ -z "$best_s" ] || awk "BEGIN{exit !($s < $best_s)}"; then best_s=$s; fi
    if [ -z "$best_kb" ] || [ "$kb" -gt "$best_kb" ]; then best_kb=$kb; fi
  done
  echo "$best_s $best_kb"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

if [ "$mode" = "--all" ]; then
  # Best wall seconds and best CPU seconds (user + system) of a baseline and of a case,
  # 3 runs each, alternated.
  pair() {
    local base=$1 case=$2 best_b="" best_c="" cpu_b="" cpu_c="" s cpu t0 t1
    for _ in 1 2 3; do
      for which in b c; do
        # Nanosecond clock: /usr/bin/time's 10 ms grain is coarse for a 0.1 s baseline.
        t0=$(date +%s%N)
        if [ $which = b ]; then
          /usr/bin/time -f "%U %S" -o "$dir/time" sh -c "exec $base" > /dev/null
        else
          /usr/bin/time -f "%U %S" -o "$dir/time" sh -c "exec $case" > /dev/null || true
        fi
        t1=$(date +%s%N)
        s=$(awk -v a="$t0" -v z="$t1" 'BEGIN{printf "%.3f", (z - a) / 1e9}')
        cpu=$(tail -1 "$dir/time" | awk '{printf "%.2f", $1 + $2}')
        if [ $which = b ]; then
          if [ -z "$best_b" ] || awk "BEGIN{exit !($s < $best_b)}"; then best_b=$s; fi
          if [ -z "$cpu_b" ] || awk "BEGIN{exit !($cpu < $cpu_b)}"; then cpu_b=$cpu; fi
        else
          if [ -z "$best_c" ] || awk "BEGIN{exit !($s < $best_c)}"; then best_c=$s; fi
          if [ -z "$cpu_c" ] || awk "BEGIN{exit !($cpu < $cpu_c)}"; then cpu_c=$cpu; fi
        fi
      done
    done
    echo "$best_b $best_c $cpu_b $cpu_c"
  }
  score="$leadscore score -q --as-of 2026-11-27"
  printf '%-42s %-24s %7s %8s %7s %8s %6s %6s %6s %6s\n' case input "base s" base/s "case s" leads/s ratio \
    "b cpu" "c cpu" "cpu r"
  row() {
    local name=$1 file=$2 baseline=$3 rules=$4 b c bc cc
    read -r b c bc cc < <(pair "$baselines/$baseline < '$file'" "$score --rules $rules '$file'")
    awk -v name="$name" -v f="$(basename "$file")" -v n="$count" -v b="$b" -v c="$c" -v bc="$bc" -v cc="$cc" 'BEGIN {
      printf "%-42s %-24s %7.3f %8.0f %7.3f %8.0f %5.2fx %6.2f %6.2f %5.2fx\n", name, f, b, n / b, c, n / c, b / c, bc, cc, bc / cc }'
  }
  jsonl=$(leads jsonl low)
  jsonl_high=$(leads jsonl high)
  csv=$(leads csv low)
  csv_high=$(leads csv high)
  row "a starter rules, default leads" "$jsonl" serde_roundtrip rules
  row "b starter rules, high-cardinality leads" "$jsonl_high" serde_roundtrip rules
  row "c twelve model, high-cardinality leads" "$jsonl_high" serde_roundtrip benches/models/twelve
  row "c twelve model, default leads" "$jsonl" serde_roundtrip benches/models/twelve
  row "d heavy folder, high-cardinality leads" "$jsonl_high" serde_roundtrip benches/models/heavy
  row "e starter rules, CSV, default leads" "$csv" csv_roundtrip rules
  row "e starter rules, CSV, high-cardinality" "$csv_high" csv_roundtrip rules
  echo "base: serde_roundtrip (JSON Lines) or csv_roundtrip (CSV), 1 thread; case: leadscore score -q, all cores;"
  echo "best of 3 each, alternated; ratio = base s / case s, wall (above 1: leadscore is faster);"
  echo "cpu: user + system seconds, best of 3; cpu r = base cpu / case cpu (work per lead, less moved by load)"
  exit 0
fi

echo "input: $input ($(du -h "$input" | cut -f1), $count leads)"
read -r base_s _ < <(measure sh -c "$baselines/serde_roundtrip < '$input'")
read -r all_s all_kb < <(measure "$leadscore" score -q --as-of 2026-11-27 "$input")
read -r one_s _ < <(measure "$leadscore" score -q --threads 1 --as-of 2026-11-27 "$input")
awk -v n="$count" -v b="$base_s" -v a="$all_s" -v o="$one_s" 'BEGIN {
  printf "serde_json read+write baseline (1 thread): %6.2f s  %9.0f leads/s\n", b, n / b
  printf "leadscore score, all cores:                %6.2f s  %9.0f leads/s  (%.2fx baseline)\n", a, n / a, b / a
  printf "leadscore score, 1 worker thread:          %6.2f s  %9.0f leads/s  (%.2fx baseline)\n", o, n / o, b / o
}'
echo "peak RSS, $count leads: $((all_kb / 1024)) MiB"

if [ "$mode" = "--memory" ]; then
  big="$dir/leads-$((count * 10)).jsonl"
  [ -s "$big" ] || target/release/examples/gen_leads "$((count * 10))" jsonl 42 > "$big"
  /usr/bin/time -f "%e %M" -o "$dir/time" "$leadscore" score -q --as-of 2026-11-27 "$big" > /dev/null
  read -r big_s big_kb < "$dir/time"
  echo "peak RSS, $((count * 10)) leads: $((big_kb / 1024)) MiB ($(awk -v a="$big_kb" -v b="$all_kb" 'BEGIN{printf "%.2f", a / b}')x), $big_s s"
fi
