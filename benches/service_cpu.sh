#!/usr/bin/env bash
# Server CPU per single-lead request of `leadscore serve` (issue 14, target 4), measured
# two ways a noisy shared machine cannot spoil much:
#
#   cpu:   the server's utime + stime (/proc/PID/stat, clock ticks) over N paced requests
#          (5,000 req/s, 8 keep-alive connections, after 2,000 of warm-up), divided by N;
#          also the client's latency percentiles (examples/loadgen.rs).
#   instr: instructions per request under callgrind: (I_N - I_0) / N, where I_N is the
#          whole server run (all threads) answering N requests paced at 200 req/s over 8
#          connections, and I_0 the same server idle for as long, answering none. Both
#          stop on SIGINT, which shuts the server down gracefully (callgrind writes its
#          counts at exit).
#
# Two configurations: `plain` (no flags) and `prod` (a bearer token on every request,
# the decision log; every response carries X-Leadscore-Rules and X-Request-Id anyway).
#
# Usage: benches/service_cpu.sh [cpu|instr|all] [plain|prod|both]
#   env: N (cpu requests, default 30000), NI (callgrind requests, default 2000),
#        ROUNDS (cpu runs per configuration, alternated, default 2), PORT (default 18171),
#        OUT (work folder, default $TMPDIR/leadscore-service-cpu), NO_BUILD=1,
#        BIN (the leadscore binary to measure), EXTRA_FLAGS (more `serve` flags).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
which=${2:-both}
N=${N:-30000}
NI=${NI:-2000}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-18171}
OUT=${OUT:-${TMPDIR:-/tmp}/leadscore-service-cpu}
mkdir -p "$OUT"
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --bin leadscore --example loadgen
BIN=${BIN:-target/release/leadscore}
LOADGEN=target/release/examples/loadgen
sed -n 3p fixtures/leads.jsonl > "$OUT/lead.json" # one lead (L-1003)
echo bench-token > "$OUT/tokens"
TICK=$(getconf CLK_TCK)

flags() {
  case $1 in
    plain) echo "${EXTRA_FLAGS:-}" ;;
    prod) echo "--token-file $OUT/tokens --decision-log $OUT/decisions.jsonl ${EXTRA_FLAGS:-}" ;;
  esac
}
headers() {
  case $1 in
    plain) ;;
    prod) echo "--header=Authorization: Bearer bench-token" ;;
  esac
}

# Starts `$@` (a server) in the background, its stdout in $OUT/listen; waits for its
# `listening on` line. Sets PID.
start() {
  : > "$OUT/listen"
  "$@" > "$OUT/listen" 2> "$OUT/serve.log" &
  PID=$!
  for _ in $(seq 600); do
    grep -q '^listening on' "$OUT/listen" 2> /dev/null && return 0
    kill -0 "$PID" 2> /dev/null || { cat "$OUT/serve.log" >&2; return 1; }
    sleep 0.1
  done
  echo "the server did not start" >&2
  return 1
}
stop() {
  kill -INT "$PID"
  wait "$PID" || true
}
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; } # utime stime

cpu() { # config
  local config=$1
  rm -f "$OUT"/decisions.jsonl*
  # shellcheck disable=SC2046
  start "$BIN" serve --listen "127.0.0.1:$PORT" --as-of 2026-11-27 $(flags "$config")
  local -a hdr=()
  [ -z "$(headers "$config")" ] || hdr=("$(headers "$config")")
  "$LOADGEN" --addr "127.0.0.1:$PORT" --body "$OUT/lead.json" "${hdr[@]}" \
    --requests 2000 --concurrency 8 --rate 5000 --time-limit 60 > /dev/null
  local u0 s0 u1 s1
  read -r u0 s0 < <(ticks "$PID")
  "$LOADGEN" --addr "127.0.0.1:$PORT" --body "$OUT/lead.json" "${hdr[@]}" \
    --requests "$N" --concurrency 8 --rate 5000 --time-limit 60 > "$OUT/loadgen.txt"
  read -r u1 s1 < <(ticks "$PID")
  stop
  local latency answered
  latency=$(grep '^latency' "$OUT/loadgen.txt" | sed 's/latency ms: //')
  answered=$(grep -o '[0-9]* ok' "$OUT/loadgen.txt")
  awk -v c="$config" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$TICK" -v n="$N" -v l="$latency" \
    -v a="$answered" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "cpu   %-5s %6.1f us/request (user %.1f, system %.1f; %s of %d; load %s)  %s\n",
             c, (u + s) / hz * 1e6 / n, u / hz * 1e6 / n, s / hz * 1e6 / n, a, n, load, l }'
}

# Instructions of one server run under callgrind answering `n` requests (0: idle for as
# long as `secs`).
instructions() { # config n secs
  local config=$1 n=$2 secs=$3
  rm -f "$OUT"/decisions.jsonl* "$OUT"/callgrind.out.*
  # shellcheck disable=SC2046
  start valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.$config.$n" \
    "$BIN" serve --listen "127.0.0.1:$PORT" --as-of 2026-11-27 $(flags "$config")
  local -a hdr=()
  [ -z "$(headers "$config")" ] || hdr=("$(headers "$config")")
  if [ "$n" -gt 0 ]; then
    "$LOADGEN" --addr "127.0.0.1:$PORT" --body "$OUT/lead.json" "${hdr[@]}" \
      --requests "$n" --concurrency 8 --rate 200 --time-limit 600 > "$OUT/loadgen.txt"
    grep -q " $n answered ($n ok" "$OUT/loadgen.txt" || { cat "$OUT/loadgen.txt" >&2; return 1; }
  else
    sleep "$secs"
  fi
  stop
  # `summary:` (older callgrind) or `totals:` line: Ir of the whole run.
  awk '/^(summary|totals):/ {print $2; exit}' "$OUT/callgrind.out.$config.$n"
}

instr() { # config
  local config=$1 secs
  secs=$(awk -v n="$NI" 'BEGIN { print n / 200 }')
  local i0 in
  i0=$(instructions "$config" 0 "$secs")
  in=$(instructions "$config" "$NI" "$secs")
  cp "$OUT/callgrind.out.$config.$NI" "$OUT/callgrind.$config"
  awk -v c="$config" -v a="$i0" -v b="$in" -v n="$NI" \
    'BEGIN { printf "instr %-5s %9.0f instructions/request  (I_%d %d, I_0 %d)\n", c, (b - a) / n, n, b, a }'
}

configs=(plain prod)
[ "$which" = both ] || configs=("$which")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); commit $(git rev-parse --short HEAD)"
if [ "$what" = instr ] || [ "$what" = all ]; then
  for c in "${configs[@]}"; do instr "$c"; done
  echo "profiles: $OUT/callgrind.{$(IFS=,; echo "${configs[*]}")} (callgrind_annotate --inclusive=yes FILE)"
fi
if [ "$what" = cpu ] || [ "$what" = all ]; then
  for _ in $(seq "$ROUNDS"); do
    for c in "${configs[@]}"; do cpu "$c"; done
  done
fi
