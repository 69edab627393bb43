#!/usr/bin/env bash
# Byte-identity of `leadscore score` output, before and after a change: scores each case of
# `benches/e2e.sh --all` (same rules, same generated inputs, fixed --as-of), writes each
# output to OUTDIR/CASE.out and prints its sha256. Run it on both commits (same COUNT) and
# compare the two lists, or `cmp` the files:
#
#   git stash; benches/identical.sh 1000000 /tmp/before; git stash pop
#   benches/identical.sh 1000000 /tmp/after
#   diff <(cd /tmp/before && sha256sum *.out) <(cd /tmp/after && sha256sum *.out) && echo identical
#
# With a SHA256SUMS file from an earlier run as the third argument, checks against it and
# exits 1 on any difference.
#
# LEADSCORE=path picks another binary (an older build) for the comparison.
# Usage: benches/identical.sh [COUNT (default 1000000)] [OUTDIR (default $TMPDIR/leadscore-identical)] [SHA256SUMS]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
out=${2:-${TMPDIR:-/tmp}/leadscore-identical}
expect=${3:-}
. benches/lib.sh
mkdir -p "$out"
cargo build --release --quiet --bin leadscore --example gen_leads

# The same input files as benches/e2e.sh --all (leads, from benches/lib.sh).
run() {
  local name=$1 rules=$2 file=$3
  # Exit code 1 (records rejected) still writes every verdict; the rejects go to stderr.
  "${LEADSCORE:-target/release/leadscore}" score -q --as-of 2026-11-27 --rules "$rules" "$file" \
    > "$out/$name.out" 2> "$out/$name.err" || [ $? -eq 1 ]
}

run a-starter-default rules "$(leads jsonl low)"
run b-starter-high rules "$(leads jsonl high)"
run c-twelve-high benches/models/twelve "$(leads jsonl high)"
run c-twelve-default benches/models/twelve "$(leads jsonl low)"
run d-heavy-high benches/models/heavy "$(leads jsonl high)"
run e-starter-csv-default rules "$(leads csv low)"
run e-starter-csv-high rules "$(leads csv high)"

sums=$(cd "$out" && sha256sum -- *.out)
echo "$sums"
if [ -n "$expect" ]; then
  if diff "$expect" <(echo "$sums"); then
    echo "identical to $expect"
  else
    echo "outputs differ from $expect" >&2
    exit 1
  fi
fi
echo "$sums" > "$out/SHA256SUMS"
