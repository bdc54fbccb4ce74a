#!/usr/bin/env bash
# Times `vigil score` against the DuckDB implementation on the same store,
# for one quarter and one year: wall time, peak memory, and the ratio
# vigil / DuckDB (goal: ≤ 1.0, within 2 GiB at 10 million cases).
#
#   bench/score_vs_duckdb.sh STORE [QUARTER] [YEAR]
#
# Build a store first, e.g. bench/generate_ingest.sh 1 (or 41 for ~10M cases).
set -euo pipefail
cd "$(dirname "$0")/.."
store=$1 quarter=${2:-2026-Q3} year=${3:-2025}
cargo build --release --quiet
run() { # label, command... -> "secs kib"
  /usr/bin/time -f "%e %M" -o /tmp/vigil-bench.time "$@" > /dev/null
  cat /tmp/vigil-bench.time
}
printf '%-8s %10s %10s %10s %10s %7s\n' period vigil_s vigil_MiB duckdb_s duckdb_MiB ratio
for p in "$quarter" "$year"; do
  rm -rf "$store/cache"  # counts kept by an earlier score: computed again
  read -r vs vk < <(run target/release/vigil score --store "$store" --period "$p" --format csv)
  read -r ds dk < <(run python3 bench/duckdb_indicators.py --store "$store" --period "$p")
  awk -v p="$p" -v vs="$vs" -v vk="$vk" -v ds="$ds" -v dk="$dk" \
    'BEGIN { printf "%-8s %10.2f %10.0f %10.2f %10.0f %7.2f\n", p, vs, vk/1024, ds, dk/1024, vs/ds }'
done
