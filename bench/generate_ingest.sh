#!/usr/bin/env bash
# Measures `vigil generate` and `vigil ingest` at a given scale: wall time,
# peak memory (GNU time's maximum resident set size) and ingest throughput.
#
#   bench/generate_ingest.sh [SCALE] [WORKDIR]
#
# SCALE 1 is about the real VSS volume; 41 is about 10 million cases.
# Needs /usr/bin/time (Debian package `time`).
set -euo pipefail
scale=${1:-1}
work=${2:-target/bench-scale-$scale}
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/vigil
rm -rf "$work"
mkdir -p "$work"
export VIGIL_HMAC_KEY=${VIGIL_HMAC_KEY:-bench-key-not-secret-0123456789}

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/$label.time" "$@" > "$work/$label.out"
  read -r secs kib < "$work/$label.time"
  printf '%-10s wall %8.1f s   peak RSS %8.1f MiB\n' "$label" "$secs" "$(awk -v k="$kib" 'BEGIN{print k/1024}')"
}

measure generate "$bin" generate --out "$work/extracts" --seed 1 --scale "$scale" --format parquet
tail -n 8 "$work/generate.out"
du -sh "$work/extracts" | awk '{print "extracts on disk: " $1}'
measure ingest "$bin" ingest "$work/extracts" --store "$work/store"
tail -n 1 "$work/ingest.out"
du -sh "$work/store" | awk '{print "store on disk: " $1}'
