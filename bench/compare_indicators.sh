#!/usr/bin/env bash
# Compares vigil's numerators and denominators with the independent DuckDB
# implementation on the same store, period and as-of date.
#
#   bench/compare_indicators.sh STORE PERIOD [AS_OF]
#
# Needs `pip install duckdb` and a built target/release/vigil.
set -euo pipefail
cd "$(dirname "$0")/.."
store=$1 period=$2 as_of=${3:-}
args=(--store "$store" --period "$period")
[ -n "$as_of" ] && args+=(--as-of "$as_of")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
target/release/vigil indicators "${args[@]}" --format csv | cut -d, -f1-5 > "$tmp/vigil.csv"
python3 bench/duckdb_indicators.py "${args[@]}" > "$tmp/duckdb.csv"
if diff <(sort "$tmp/vigil.csv") <(sort "$tmp/duckdb.csv") > "$tmp/diff"; then
  echo "identical: $(($(wc -l < "$tmp/vigil.csv") - 1)) rows ($period${as_of:+ as of $as_of})"
else
  echo "DIFFERENT ($period${as_of:+ as of $as_of}): < vigil, > duckdb"
  cat "$tmp/diff"
  exit 1
fi
