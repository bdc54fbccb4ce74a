#!/usr/bin/env bash
# Scoring at the speed of the data: the figures of the store with facts
# maintained at ingest, as whole processes of the release binary.
#
#   bench/facts.sh [WORKDIR]        (default target/bench-facts)
#
# Builds once and keeps in WORKDIR: a scale-1 store (seed 7, about the real
# national volume) and a 10-million-case store (scale 41, seed 1); delete
# WORKDIR to start again. Prints:
#
#   scale 1, `vigil score --period 2026-Q3`, cold: median wall s, peak MiB,
#     and the ratio to bench/duckdb_indicators.py on the same store; the
#     ingest of its 58 extracts into an empty store (median of 3)
#   10 M: ingest of every extract (rows/s, peak MiB; when the store is
#     built), `score --period 2025`, the same as of an extract a year back,
#     the ingest of the last extract into the store of the 57 before, the
#     first /d/league after it lands, and ingest + score against DuckDB scoring the raw
#     extracts
#
# Needs /usr/bin/time (Debian `time`), curl, bc, python3 with duckdb. Takes
# about an hour the first time (generating and ingesting 10 M cases).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-target/bench-facts}
runs=${RUNS:-5}
mkdir -p "$work"
# VIGIL_BIN: a binary already built (otherwise the release build of HEAD).
if [ -z "${VIGIL_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${VIGIL_BIN:-$PWD/target/release/vigil}
export VIGIL_HMAC_KEY=${VIGIL_HMAC_KEY:-bench-key-not-secret-0123456789}
export VIGIL_LOG=${VIGIL_LOG:-warn}

# timed LABEL CMD... -> appends "secs kib" of one run to $work/LABEL.runs
timed() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/.time" "$@" > "$work/$label.out" 2> "$work/$label.err"
  cat "$work/.time" >> "$work/$label.runs"
}
# median LABEL -> "secs MiB" (median of the wall times, largest peak)
median() {
  sort -n "$work/$1.runs" | awk '{ s[NR] = $1; if ($2 > m) m = $2 }
    END { printf "%.3f %.0f\n", (NR % 2 ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2), m / 1024 }'
}
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
# cold STORE: no page cache and no indicator counts kept by an earlier
# run (a period scored once is read back from the store's cache/), so
# that each timed score computes its counts.
cold() { rm -rf "$1/cache"; drop_caches; }

store_at() { # SCALE SEED DIR: generate and ingest once
  local scale=$1 seed=$2 dir=$3
  if [ ! -f "$dir/store/catalog.json" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    "$bin" generate --out "$dir/extracts" --seed "$seed" --scale "$scale" --format parquet > /dev/null
    rm -f "$work/ingest-$scale.runs"
    timed "ingest-$scale" "$bin" ingest "$dir/extracts" --store "$dir/store"
  fi
}

echo "== scale 1 (seed 7)"
store_at 1 7 "$work/s1"
s1=$work/s1/store
rm -f "$work"/score1.runs "$work"/duck1.runs
for _ in $(seq "$runs"); do
  cold "$s1"; timed score1 "$bin" score --store "$s1" --period 2026-Q3 --format csv
  drop_caches; timed duck1 python3 bench/duckdb_indicators.py --store "$s1" --period 2026-Q3
done
read -r vs vm < <(median score1); read -r ds dm < <(median duck1)
printf '%-58s %8s s %6s MiB\n' "vigil score --period 2026-Q3" "$vs" "$vm"
printf '%-58s %8s s %6s MiB\n' "duckdb_indicators.py --period 2026-Q3" "$ds" "$dm"
awk -v a="$vs" -v b="$ds" 'BEGIN { printf "%-58s %8.2f\n", "ratio vigil / DuckDB", a / b }'
# Ingest of the 58 extracts into an empty store, by the binary measured
# (the store above may have been built by an earlier one).
rm -f "$work"/ingest1-fresh.runs
for _ in $(seq 3); do
  rm -rf "$work/s1-fresh"
  timed ingest1-fresh "$bin" ingest "$work/s1/extracts" --store "$work/s1-fresh"
done
rm -rf "$work/s1-fresh"
read -r is im < <(median ingest1-fresh)
rows=$(grep -o 'ingested [0-9]* rows' "$work/ingest1-fresh.out" | awk '{print $2}')
awk -v s="$is" -v m="$im" -v r="$rows" 'BEGIN { printf "%-58s %8.1f s %6.0f MiB  %.0f rows/s\n", "ingest of 58 extracts into an empty store (incl. facts)", s, m, r / s }'

echo "== 10 M cases (scale 41, seed 1)"
store_at 41 1 "$work/s41"
big=$work/s41/store
if [ -f "$work/ingest-41.runs" ]; then
  read -r is im < <(median ingest-41)
  rows=$(grep -o 'ingested [0-9]* rows' "$work/ingest-41.out" | awk '{print $2}')
  awk -v s="$is" -v m="$im" -v r="$rows" 'BEGIN { printf "%-58s %8.1f s %6.0f MiB  %.0f rows/s\n", "ingest of every extract (incl. facts)", s, m, r / s }'
fi
latest=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['extracts'][-1]['extract_date'])" "$big/catalog.json")
year_back=$(python3 -c "import json,sys,datetime as d; c=json.load(open(sys.argv[1]))['extracts']; l=d.date.fromisoformat(c[-1]['extract_date']); print(max(e['extract_date'] for e in c if d.date.fromisoformat(e['extract_date']) <= l.replace(year=l.year-1)))" "$big/catalog.json")
rm -f "$work"/score41.runs "$work"/score41b.runs
for _ in $(seq 3); do
  cold "$big"; timed score41 "$bin" score --store "$big" --period 2025 --format csv
  cold "$big"; timed score41b "$bin" score --store "$big" --period 2025 --as-of "$year_back" --format csv
done
read -r s m < <(median score41)
printf '%-58s %8s s %6s MiB\n' "score --period 2025 (as of $latest)" "$s" "$m"
read -r s2 m2 < <(median score41b)
printf '%-58s %8s s %6s MiB\n' "score --period 2025 --as-of $year_back" "$s2" "$m2"

# The first league page after an ingest lands: a copy (hard links: files
# are never changed in place) of the store of every extract but the last,
# a server on it, the last extract ingested, then the page. That store is
# built once by a run of its own: a run commits its extracts in groups, so
# the full store cannot be cut back by one extract.
prev=$work/s41/prev
if [ ! -f "$prev/catalog.json" ]; then
  rm -rf "$prev" "$work/s41/all-but-last"; mkdir -p "$work/s41/all-but-last"
  for e in $(ls "$work/s41/extracts" | grep '^20' | sort | head -n -1); do
    ln -s "$(realpath "$work/s41/extracts/$e")" "$work/s41/all-but-last/$e"
  done
  "$bin" ingest "$work/s41/all-but-last" --store "$prev" > /dev/null
fi
ls "$work/s41/extracts" | grep '^20' | sort | tail -1 > "$work/web-last"
rm -rf "$work/s41-web"; cp -al "$prev" "$work/s41-web"
port=18181
"$bin" serve --store "$work/s41-web" --bind "127.0.0.1:$port" > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.5; done
curl -fs "http://127.0.0.1:$port/d/league" -o /dev/null
rm -f "$work"/ingest41-last.runs
timed ingest41-last "$bin" ingest "$work/s41/extracts/$(cat "$work/web-last")" --store "$work/s41-web"
start=$(date +%s.%N)
curl -fs "http://127.0.0.1:$port/d/league" -o /dev/null
printf '%-58s %8.2f s\n' "first /d/league after an ingest lands" "$(echo "$(date +%s.%N) - $start" | bc)"
kill $server; trap - EXIT
read -r ls lm < <(median ingest41-last)
rows=$(grep -o 'ingested [0-9]* rows' "$work/ingest41-last.out" | awk '{print $2}')
awk -v s="$ls" -v m="$lm" -v r="$rows" 'BEGIN { printf "%-58s %8.1f s %6.0f MiB  %.0f rows/s\n", "ingest of the last extract into the store of the 57 before", s, m, r / s }'

# End to end: every extract ingested and a year scored, against DuckDB
# scoring the same year straight from the stored extracts.
rm -f "$work"/duck41.runs
drop_caches; timed duck41 python3 bench/duckdb_indicators.py --store "$big" --period 2025
read -r d4 dm4 < <(median duck41)
printf '%-58s %8s s %6s MiB\n' "duckdb_indicators.py --period 2025 (raw store)" "$d4" "$dm4"
if [ -f "$work/ingest-41.runs" ]; then
  read -r is im < <(median ingest-41)
  awk -v i="$is" -v s="$s" -v d="$d4" 'BEGIN { printf "%-58s %8.1f s  ratio to DuckDB %.1f\n", "end to end: ingest every extract + score 2025", i + s, (i + s) / d }'
fi
