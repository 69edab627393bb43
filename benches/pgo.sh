#!/usr/bin/env bash
# What profile-guided optimisation (PGO) buys on both sides of issue 14's ratios.
#
# Builds `leadscore` and the two baselines (serde_roundtrip, csv_roundtrip) instrumented,
# runs each on its own work (leadscore: the starter rules, benches/models/twelve and
# benches/models/heavy over generated leads as JSON Lines and CSV, and single-lead
# service requests; the baselines: their round trip of the same files), merges the
# profiles, builds everything again with them, and counts instructions per lead with
# benches/instructions.sh against the committed figures of the plain build. The ratios
# the targets name compare leadscore with a baseline, so the row that matters is each
# case's change beside the baselines' change.
#
# The built binaries stay in target/pgo/release. The script checks that its leadscore
# writes the same bytes as the plain build's for each folder over the training leads,
# and fails if not.
#
# Needs llvm-profdata from rustc's own LLVM: `rustup component add llvm-tools`.
# Two release builds: 13 minutes in all on the 2-core machine of BENCHMARKS.md from an
# empty target/pgo-gen, 6 when its dependencies are built.
#
# Usage: benches/pgo.sh [COUNT (training leads per file, default 200000)]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-200000}
. benches/lib.sh

sysroot=$(rustc --print sysroot)
profdata=$(ls "$sysroot"/lib/rustlib/*/bin/llvm-profdata 2> /dev/null | head -n 1 || true)
if [ -z "$profdata" ]; then
  echo "llvm-profdata not found under $sysroot: rustup component add llvm-tools" >&2
  exit 2
fi

raw=$PWD/target/pgo-profiles
rm -rf "$raw"
mkdir -p "$raw"
measured=(--bin leadscore --example serde_roundtrip --example csv_roundtrip)

echo "== instrumented build (target/pgo-gen)" >&2
RUSTFLAGS="-Cprofile-generate=$raw" cargo build --release --locked --quiet \
  --target-dir target/pgo-gen "${measured[@]}"
gen=target/pgo-gen/release

# Inputs from the plain build's generator and load from its client, so neither writes a
# profile; its leadscore is what the PGO build's output is compared with.
cargo build --release --locked --quiet --bin leadscore --example gen_leads --example loadgen
jsonl=$(leads jsonl high)
low=$(leads jsonl low)
csv=$(leads csv high)

echo "== training on $count leads per file" >&2
score="$gen/leadscore score -q --as-of 2026-11-27"
for rules in rules benches/models/twelve benches/models/heavy; do
  $score --rules "$rules" "$jsonl" > /dev/null
done
$score "$low" > /dev/null
$score "$csv" > /dev/null || [ $? -eq 1 ]
"$gen/examples/serde_roundtrip" < "$jsonl" > /dev/null
"$gen/examples/serde_roundtrip" < "$low" > /dev/null
"$gen/examples/csv_roundtrip" < "$csv" > /dev/null

# A few thousand single-lead requests, so the service's path is in the profile too.
out=$(mktemp)
"$gen/leadscore" serve --rules rules --as-of 2026-11-27 --listen 127.0.0.1:0 > "$out" 2> /dev/null &
server=$!
trap 'kill $server 2> /dev/null || true; rm -f "$out" "$out.lead"' EXIT
addr=$(server_address "$out" $server 100)
if [ -z "$addr" ]; then
  echo "the instrumented server did not start" >&2
  exit 2
fi
sed -n 3p fixtures/leads.jsonl > "$out.lead"
target/release/examples/loadgen --addr "$addr" --body "$out.lead" --requests 5000 \
  --concurrency 2 > /dev/null
# SIGTERM: a graceful exit, on which the instrumented binary writes its profile.
kill -TERM $server
wait $server

"$profdata" merge -o "$raw/merged.profdata" "$raw"/*.profraw

echo "== build with the profile (target/pgo)" >&2
# The generator and the client too: benches/instructions.sh runs them from the same
# directory.
RUSTFLAGS="-Cprofile-use=$raw/merged.profdata" cargo build --release --locked --quiet \
  --target-dir target/pgo "${measured[@]}" --example gen_leads --example loadgen

echo "== the same output as the plain build" >&2
for rules in rules benches/models/twelve benches/models/heavy; do
  for input in "$jsonl" "$csv"; do
    if ! cmp -s <(target/release/leadscore score -q --as-of 2026-11-27 --rules "$rules" "$input" || true) \
      <(target/pgo/release/leadscore score -q --as-of 2026-11-27 --rules "$rules" "$input" || true); then
      echo "target/pgo/release/leadscore differs from target/release/leadscore: $rules, $input" >&2
      exit 1
    fi
  done
done

echo "== instructions per lead, PGO build against the plain build's baseline" >&2
BUILT=target/pgo/release benches/instructions.sh || true
