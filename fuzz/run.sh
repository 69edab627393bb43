#!/usr/bin/env bash
# Runs each fuzz target for a bounded time, seeded from the repository's own rules and
# fixtures. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); runs on stable Rust
# without a sanitizer (the crate has no unsafe code), with debug assertions and overflow
# checks on.
#
#   fuzz/run.sh              # every target, 30 s each
#   fuzz/run.sh 600 score    # one target, ten minutes
#
# A crash or a hang (an input taking over 10 s) stops with the input saved in
# fuzz/artifacts/<target>/; replay it with `cargo fuzz run -s none -a <target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(load_rules load_rhai read_json read_jsonl read_csv score)
fi

# Seeds a corpus with the repository's files of one extension, named by their paths.
seed() {
    find rules fixtures examples -type f -name "*.$2" -size -64k | sort |
        while read -r file; do cp "$file" "$1/seed-${file//\//_}"; done
}

cargo fuzz build -s none --debug-assertions
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    dict=()
    case "$target" in
        load_rules) seed "$corpus" yaml; dict=(-dict=fuzz/dicts/rules.dict) ;;
        load_rhai) seed "$corpus" rhai; dict=(-dict=fuzz/dicts/rhai.dict) ;;
        read_json) seed "$corpus" json ;;
        read_jsonl) seed "$corpus" jsonl ;;
        read_csv) seed "$corpus" csv ;;
    esac
    echo "fuzzing $target for ${seconds}s"
    log="fuzz/artifacts/$target.log"
    mkdir -p fuzz/artifacts
    if ! cargo fuzz run -s none --debug-assertions "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        grep -v "^\s*\[" "$log" | cut -c1-400 | tail -n 60 >&2
        echo "fuzz target $target found a problem: the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*(DONE|cov:)" "$log" | tail -n 3
done
