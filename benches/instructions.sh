#!/usr/bin/env bash
# Instruction-count guard (issue 14): instructions per lead on the bulk paths and per
# single-lead service request, counted with `valgrind --tool=callgrind`, compared with the
# committed figures in benches/instructions.baseline. Exits 1 when a case costs more than
# 10% over its baseline. Instruction counts do not move with the machine's load, unlike
# wall times, so this can gate CI on a shared machine.
#
# Usage:
#   benches/instructions.sh            # measure, print case / baseline / now / ratio, gate
#   benches/instructions.sh --update   # measure and rewrite benches/instructions.baseline
#   BUILT=target/pgo/release benches/instructions.sh
#                                      # count binaries built elsewhere (benches/pgo.sh),
#                                      # without building; compared with the same baseline
#
# How each figure is taken (whole-process counts, so no instrumentation in the code):
#   - score cases: `leadscore score -q --threads 1 --as-of 2026-11-27` over $LEADS generated
#     leads (seed 42), minus the same command over an empty input (a CSV header alone for
#     CSV): loading the rules, compiling regexes and Rhai, starting threads are taken out,
#     and the difference divided by $LEADS is the marginal cost of one lead (read, score,
#     write). The baselines serde_roundtrip and csv_roundtrip are counted the same way,
#     so ratios between rows are the instruction-count form of benches/e2e.sh's ratios.
#   - service/single_lead: `leadscore serve` (one tokio worker thread,
#     TOKIO_WORKER_THREADS=1, default logging to a file) answering $REQUESTS POST /v1/score
#     requests of one lead each (fixtures/leads.jsonl line 3, the lead BENCHMARKS.md's
#     service runs use), sent one at a time over one keep-alive connection by
#     examples/loadgen.rs, then stopped with SIGTERM (the service shuts down gracefully,
#     so valgrind writes its counts); minus the same server started and stopped with no
#     request. Divided by $REQUESTS: the server's instructions per request, HTTP included.
#
# Counts are deterministic for a given binary and CPU (fixed seeds, fixed --as-of, one
# worker thread, valgrind's --fair-sched=yes: runs agree within about 0.2%; without
# it, threads spinning while they wait for each other moved counts by up to 0.9%). They do depend on the CPU:
# memchr, aho-corasick and the standard library pick SIMD routines at run time (SSE2,
# AVX2, ...), so another machine may count a few percent differently. The 10% tolerance
# covers that; when CI moves to a different CPU family, refresh the baseline with --update.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh # server_address (its generated-input folder is not used here)

LEADS=${LEADS:-5000}
REQUESTS=${REQUESTS:-1000}
TOLERANCE=${TOLERANCE:-1.10}
baseline=benches/instructions.baseline
update=no
case "${1:-}" in
  --update) update=yes ;;
  "") ;;
  *)
    echo "usage: benches/instructions.sh [--update]" >&2
    exit 2
    ;;
esac
if [ $update = yes ] && [ -n "${BUILT:-}" ]; then
  echo "the baseline is counted from this checkout's own release build: --update without BUILT" >&2
  exit 2
fi
if ! command -v valgrind > /dev/null 2>&1; then
  echo "valgrind is required (apt-get install valgrind)" >&2
  exit 2
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/leadscore-instructions.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2> /dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

started=$(date +%s)
built=${BUILT:-target/release}
if [ -z "${BUILT:-}" ]; then
  cargo build --release --locked --quiet --bin leadscore --example gen_leads --example serde_roundtrip \
    --example csv_roundtrip --example loadgen
fi
bin=$built/leadscore
ex=$built/examples

"$ex/gen_leads" "$LEADS" jsonl 42 > "$dir/default.jsonl"
"$ex/gen_leads" "$LEADS" jsonl 42 --cardinality high > "$dir/high.jsonl"
"$ex/gen_leads" "$LEADS" csv 42 > "$dir/default.csv"
: > "$dir/empty.jsonl"
head -n 1 "$dir/default.csv" > "$dir/empty.csv"
sed -n 3p fixtures/leads.jsonl > "$dir/lead.json"

# Instructions of a whole command run under callgrind, standard input from $1 (its
# standard output discarded).
count() {
  local input=$1 out="$dir/callgrind.out"
  shift
  rm -f "$out"
  valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$out" "$@" < "$input" > /dev/null \
    2> "$dir/valgrind.log" || [ $? -eq 1 ] # `score` exits 1 when records are rejected
  counts_of "$out"
}
counts_of() {
  local n
  n=$(sed -n 's/^summary: //p' "$1")
  if [ -z "$n" ]; then
    echo "no callgrind summary in $1; valgrind said:" >&2
    tail -20 "$dir/valgrind.log" >&2
    exit 2
  fi
  echo "$n"
}

declare -a names=() values=()
record() {
  names+=("$1")
  values+=("$2")
  printf '  %-24s %10s\n' "$1" "$2" >&2
}
per() {
  awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f", (a - b) / n }'
}

echo "counting instructions ($LEADS leads, $REQUESTS requests; valgrind $(valgrind --version | sed 's/valgrind-//'))" >&2
zero=$(count "$dir/empty.jsonl" "$ex/serde_roundtrip")
full=$(count "$dir/default.jsonl" "$ex/serde_roundtrip")
record baseline/serde_json "$(per "$full" "$zero" "$LEADS")"
zero=$(count "$dir/empty.csv" "$ex/csv_roundtrip")
full=$(count "$dir/default.csv" "$ex/csv_roundtrip")
record baseline/csv "$(per "$full" "$zero" "$LEADS")"

score() {
  local name=$1 rules=$2 input=$3 empty=$4 full zero
  zero=$(count /dev/null "$bin" score -q --threads 1 --as-of 2026-11-27 --rules "$rules" "$empty")
  full=$(count /dev/null "$bin" score -q --threads 1 --as-of 2026-11-27 --rules "$rules" "$input")
  record "$name" "$(per "$full" "$zero" "$LEADS")"
}
score jsonl/starter rules "$dir/default.jsonl" "$dir/empty.jsonl"
score jsonl/starter_high rules "$dir/high.jsonl" "$dir/empty.jsonl"
score csv/starter rules "$dir/default.csv" "$dir/empty.csv"
score jsonl/twelve_high benches/models/twelve "$dir/high.jsonl" "$dir/empty.jsonl"
score jsonl/heavy_high benches/models/heavy "$dir/high.jsonl" "$dir/empty.jsonl"

# The server under callgrind answering $1 single-lead requests; sets `served` to its
# instructions. (Not in a $(...) subshell, so the EXIT trap can stop a stray server.)
serve() {
  local requests=$1 out="$dir/callgrind.serve" addr=""
  rm -f "$out"
  # Made here, not only by the redirection below: that runs in the background child, and
  # the loop could read the file before it exists (under `set -e`, a failed read ends
  # the script).
  : > "$dir/serve.stdout"
  TOKIO_WORKER_THREADS=1 valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$out" \
    "$bin" serve --rules rules --as-of 2026-11-27 --listen 127.0.0.1:0 \
    > "$dir/serve.stdout" 2> "$dir/valgrind.log" &
  server_pid=$!
  addr=$(server_address "$dir/serve.stdout" "$server_pid" 600)
  if [ -z "$addr" ]; then
    echo "the server did not start; valgrind said:" >&2
    tail -20 "$dir/valgrind.log" >&2
    exit 2
  fi
  if [ "$requests" -gt 0 ] &&
    ! "$ex/loadgen" --addr "$addr" --body "$dir/lead.json" --requests "$requests" \
      --concurrency 1 --time-limit 600 > "$dir/loadgen.out" 2>&1; then
    echo "loadgen failed:" >&2
    cat "$dir/loadgen.out" >&2
    exit 2
  fi
  # SIGTERM: the service finishes requests in flight and exits 0, and valgrind writes
  # its counts on that exit.
  kill -TERM "$server_pid"
  if ! wait "$server_pid"; then
    server_pid=""
    echo "the server did not shut down cleanly on SIGTERM; valgrind said:" >&2
    tail -20 "$dir/valgrind.log" >&2
    exit 2
  fi
  server_pid=""
  served=$(counts_of "$out")
}
serve 0
idle=$served
serve "$REQUESTS"
record service/single_lead "$(per "$served" "$idle" "$REQUESTS")"

elapsed=$(($(date +%s) - started))

if [ $update = yes ]; then
  {
    echo "# Instructions per lead (per request for service/), counted by benches/instructions.sh;"
    echo "# benches/instructions.sh fails when a case exceeds its figure here by more than 10%."
    echo "# Refresh with benches/instructions.sh --update (and say why in the commit)."
    echo "# $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), $LEADS leads, $REQUESTS requests,"
    echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), valgrind $(valgrind --version | sed 's/valgrind-//')"
    for i in "${!names[@]}"; do
      printf '%-24s %s\n' "${names[$i]}" "${values[$i]}"
    done
  } > "$baseline"
  echo "wrote $baseline (${elapsed}s)"
  exit 0
fi

if [ ! -f "$baseline" ]; then
  echo "no $baseline; run benches/instructions.sh --update first" >&2
  exit 2
fi
status=0
printf '%-24s %10s %10s %7s\n' case baseline now ratio
for i in "${!names[@]}"; do
  name=${names[$i]}
  now=${values[$i]}
  base=$(awk -v n="$name" '$1 == n { print $2 }' "$baseline")
  if [ -z "$base" ]; then
    printf '%-24s %10s %10s %7s  new case (benches/instructions.sh --update records it)\n' "$name" - "$now" -
    continue
  fi
  verdict=$(awk -v b="$base" -v n="$now" -v t="$TOLERANCE" 'BEGIN {
    r = n / b; printf "%6.3fx", r
    if (r > t) printf "  REGRESSION (over %.0f%%)", (t - 1) * 100
    else if (r < 2 - t) printf "  faster: benches/instructions.sh --update to keep the gain"
  }')
  printf '%-24s %10s %10s %s\n' "$name" "$base" "$now" "$verdict"
  case "$verdict" in *REGRESSION*) status=1 ;; esac
done
echo "(${elapsed}s)"
exit $status
