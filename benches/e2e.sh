#!/usr/bin/env bash
# End-to-end bulk scoring, measured side by side in one run (BENCHMARKS.md):
#   - the bare serde_json baseline: read each JSON line into a Value, write it back, one thread;
#   - `leadscore score` of the same file with the starter rules, on all cores and on one;
#   - peak resident memory of `leadscore score` for N and for 10 x N leads.
# Usage: benches/e2e.sh [COUNT (default 1000000)] [--memory]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
dir=${TMPDIR:-/tmp}/leadscore-e2e
mkdir -p "$dir"
cargo build --release --quiet --bin leadscore --example gen_leads --example serde_roundtrip

input="$dir/leads-$count.jsonl"
[ -s "$input" ] || target/release/examples/gen_leads "$count" jsonl 42 > "$input"

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
echo "input: $input ($(du -h "$input" | cut -f1), $count leads)"
read -r base_s _ < <(measure sh -c "target/release/examples/serde_roundtrip < '$input'")
read -r all_s all_kb < <(measure target/release/leadscore score -q --as-of 2026-11-27 "$input")
read -r one_s _ < <(measure target/release/leadscore score -q --threads 1 --as-of 2026-11-27 "$input")
awk -v n="$count" -v b="$base_s" -v a="$all_s" -v o="$one_s" 'BEGIN {
  printf "serde_json read+write baseline (1 thread): %6.2f s  %9.0f leads/s\n", b, n / b
  printf "leadscore score, all cores:                %6.2f s  %9.0f leads/s  (%.2fx baseline)\n", a, n / a, b / a
  printf "leadscore score, 1 worker thread:          %6.2f s  %9.0f leads/s  (%.2fx baseline)\n", o, n / o, b / o
}'
echo "peak RSS, $count leads: $((all_kb / 1024)) MiB"

if [ "${2:-}" = "--memory" ]; then
  big="$dir/leads-$((count * 10)).jsonl"
  [ -s "$big" ] || target/release/examples/gen_leads "$((count * 10))" jsonl 42 > "$big"
  /usr/bin/time -f "%e %M" -o "$dir/time" target/release/leadscore score -q --as-of 2026-11-27 "$big" > /dev/null
  read -r big_s big_kb < "$dir/time"
  echo "peak RSS, $((count * 10)) leads: $((big_kb / 1024)) MiB ($(awk -v a="$big_kb" -v b="$all_kb" 'BEGIN{printf "%.2f", a / b}')x), $big_s s"
fi
