#!/usr/bin/env bash
# Coverage-guided fuzzing of one parser with cargo-fuzz (libFuzzer), on the
# stable toolchain, niced so it only takes idle CPU.
#
#   bash scripts/fuzz.sh TARGET BUDGET [extra libFuzzer flags]
#   bash scripts/fuzz.sh replay [TARGET]     # every seed and corpus input once
#   bash scripts/fuzz.sh list
#
# BUDGET is a duration in seconds with an "s" suffix (600s), or a number of
# executions: 10M, 500k or a plain count (2500000).
#
# The working corpus (fuzz/corpus/TARGET, not checked in) grows across runs;
# the checked-in seeds (tests/fixtures/feeds including its corpus/, and
# fuzz/seeds/TARGET) are read on every run. Each run appends one line to
# fuzz/runs.tsv: date, target, engine, executions, seconds, exec/s, result,
# commit. A crash, hang or out-of-memory input is saved under
# fuzz/artifacts/TARGET/ and the script exits non-zero; replay it with
#   cd fuzz && cargo fuzz run -s none -a TARGET artifacts/TARGET/crash-…
# then make it a named test (tests/it/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

targets=(feed sitemap page charset document draft fact_check provider config)

die() { printf 'fuzz.sh: %s\n' "$*" >&2; exit 2; }

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Seed directories per target (read-only for libFuzzer: new inputs go to
# the first corpus directory, the working one).
seeds() {
  local dirs=()
  case "$1" in
    feed | charset | document | sitemap | page) dirs+=(../tests/fixtures/feeds) ;;
  esac
  [ -d "seeds/$1" ] && dirs+=("seeds/$1")
  case "$1" in
    charset | document) dirs+=(seeds/feed seeds/sitemap seeds/page) ;;
  esac
  printf '%s\n' "${dirs[@]}"
}

dict() {
  case "$1" in
    feed | sitemap | charset | document) echo dicts/xml.dict ;;
    page) echo dicts/html.dict ;;
    draft) echo dicts/draft.dict ;;
    fact_check | provider) echo dicts/json.dict ;;
    config) echo dicts/toml.dict ;;
  esac
}

command -v cargo-fuzz >/dev/null ||
  die "cargo-fuzz is not installed: cargo install cargo-fuzz --locked"

# -s none: no sanitizer (the code under test is safe Rust; ASan costs ~4x and
# needs RUSTC_BOOTSTRAP=1 on stable). -a: debug assertions and overflow
# checks on, so arithmetic overflow is a finding too.
fuzz() { nice -n 19 cargo fuzz run -s none -a "$@" </dev/null; }

[ $# -ge 1 ] || usage
case "$1" in
  list) printf '%s\n' "${targets[@]}"; exit 0 ;;
  replay)
    shift
    for t in "${@:-${targets[@]}}"; do
      mkdir -p "corpus/$t"
      mapfile -t dirs < <(seeds "$t")
      printf 'fuzz.sh: replaying %s\n' "$t" >&2
      fuzz "$t" "corpus/$t" "${dirs[@]}" -- -runs=0 -timeout=60
    done
    exit 0
    ;;
esac

[ $# -ge 2 ] || usage
target=$1 budget=$2
shift 2
printf '%s\n' "${targets[@]}" | grep -qx -- "$target" ||
  die "unknown target \"$target\"; targets: ${targets[*]}"
case "$budget" in
  *[0-9]s) limit=(-max_total_time="${budget%s}") ;;
  *[0-9]M) limit=(-runs="$((${budget%M} * 1000000))") ;;
  *[0-9]k) limit=(-runs="$((${budget%k} * 1000))") ;;
  *[!0-9]* | "") die "budget \"$budget\" is neither seconds (600s) nor runs (10M, 500k, 12345)" ;;
  *) limit=(-runs="$budget") ;;
esac

mkdir -p "corpus/$target" "artifacts/$target"
mapfile -t dirs < <(seeds "$target")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
started=$(date +%s)
set +e
fuzz "$target" "corpus/$target" "${dirs[@]}" -- \
  "${limit[@]}" -dict="$(dict "$target")" -timeout=30 -rss_limit_mb=2048 \
  -print_final_stats=1 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
seconds=$(($(date +%s) - started))

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if [ -z "$runs" ]; then
  # A crash ends the run before the final stats; take the last status line.
  runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
fi
runs=${runs:-0}
fuzz_seconds=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
fuzz_seconds=${fuzz_seconds:-$seconds}
rate=$((runs / (fuzz_seconds > 0 ? fuzz_seconds : 1)))
if [ "$status" = 0 ]; then
  result=ok
elif grep -q 'ERROR: libFuzzer: timeout' "$log"; then
  result=hang
elif grep -q 'out-of-memory' "$log"; then
  result=oom
elif grep -q 'deadly signal\|panicked at' "$log"; then
  result=crash
else
  result="exit-$status"
fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -f runs.tsv ] ||
  printf 'date\ttarget\tengine\texecutions\tseconds\texec_per_s\tresult\tcommit\n' >runs.tsv
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$target" \
  "libFuzzer (cargo-fuzz, -s none -a)" "$runs" "$fuzz_seconds" "$rate" "$result" "$commit" >>runs.tsv
printf 'fuzz.sh: %s: %s executions in %s s (%s/s): %s\n' "$target" "$runs" "$fuzz_seconds" "$rate" "$result" >&2
exit "$status"
