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
