# Shared by benches/e2e.sh and benches/identical.sh (sourced, not run): where the
# generated inputs live, and how they are made once and reused.

# Generated inputs, kept between runs.
dir=${TMPDIR:-/tmp}/leadscore-e2e
mkdir -p "$dir"

# Prints the path of $count generated leads in FORMAT (jsonl|csv) and CARDINALITY
# (low|high), seed 42, generating the file the first time. The low-cardinality files keep
# their old names, so inputs made before high cardinality existed are reused.
leads() {
  local file="$dir/leads-$count-$2.$1"
  [ "$2" = low ] && file="$dir/leads-$count.$1"
  [ -s "$file" ] || target/release/examples/gen_leads "$count" "$1" 42 --cardinality "$2" > "$file"
  echo "$file"
}

# The address a `leadscore serve` started in the background as PID prints to FILE on its
# first line (`listening on http://ADDR`), waiting up to TRIES fifths of a second; empty
# when the server exits first or the time runs out. (Under valgrind, starting is slow.)
server_address() {
  local file=$1 pid=$2 tries=$3 addr=""
  for _ in $(seq "$tries"); do
    addr=$(sed -n 's|^listening on http://||p' "$file" 2> /dev/null || true)
    [ -n "$addr" ] && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.2
  done
  echo "$addr"
}
