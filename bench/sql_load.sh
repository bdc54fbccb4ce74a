#!/usr/bin/env bash
# Dashboards under analyst load: the league-table page's latency with no
# SQL load, then while four clients post heavy queries to /api/sql without
# pause. Goal: p99 no more than 2x worse, and no errors on either side.
#
#   bench/sql_load.sh STORE [PERIOD] [DURATION]
#
# Build a scale-1 store first: bench/generate_ingest.sh 1 (its store is
# target/bench-scale-1/store). Needs wrk and curl (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
store=$1 period=${2:-2026-Q3} duration=${3:-30s}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
bin=target/release/vigil

# Real users: a leadership reader for the pages, an analyst for the SQL.
lead=$("$bin" users add reader --role leadership --file "$work/users.toml" | awk '/api token/ {print $3}')
analyst=$("$bin" users add analyst --role analyst --file "$work/users.toml" | awk '/api token/ {print $3}')

port=18081
VIGIL_LOG=warn "$bin" serve --store "$store" --bind "127.0.0.1:$port" \
  --users "$work/users.toml" --audit-log "$work/audit.jsonl" > "$work/server.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 600); do
  curl -fs "$base/healthz" >/dev/null && break
  sleep 0.5
done
page="$base/d/league?period=$period"
curl -fs -H "Authorization: Bearer $lead" "$page" -o /dev/null # scores the period once
# The analyst's context (scores of the recent periods) is built on first
# use; build it before measuring so the load below is the queries alone.
curl -fs -H "Authorization: Bearer $analyst" -H 'Content-Type: application/json' \
  --data '{"sql": "SELECT 1"}' "$base/api/sql" -o /dev/null

# Heavy analyst queries: joins and aggregates over the largest tables,
# a window over every event, a wide sort.
queries=(
  "SELECT c.unit_code, e.event_type, count(*) AS n, max(e.occurred_at) AS last FROM case_events e JOIN cases c ON c.case_id = e.case_id GROUP BY 1, 2 ORDER BY n DESC"
  "SELECT case_id, count(*) AS events, max(gap) AS longest FROM (SELECT case_id, occurred_at - lag(occurred_at) OVER (PARTITION BY case_id ORDER BY occurred_at) AS gap FROM case_events) GROUP BY case_id ORDER BY longest DESC NULLS LAST LIMIT 1000"
  "SELECT case_type, channel, complexity, count(*) AS n, count(DISTINCT requester_ref) AS requesters FROM cases GROUP BY 1, 2, 3"
  "SELECT * FROM stages ORDER BY deadline DESC, case_id LIMIT 5000"
)
# One client: posts its query again and again until told to stop, and
# writes one line per answer: HTTP status and seconds.
client() { # index
  local q=${queries[$1]} body
  body=$(python3 -c 'import json,sys; print(json.dumps({"sql": sys.argv[1], "format": "csv"}))' "$q")
  while [ ! -e "$work/stop" ]; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 120 \
      -H "Authorization: Bearer $analyst" -H 'Content-Type: application/json' \
      --data "$body" "$base/api/sql" >> "$work/sql.$1" || echo "000 0" >> "$work/sql.$1"
  done
}

measure() { # label
  echo "== $1: $page (64 connections, $duration)"
  wrk -t2 -c64 -d"$duration" --latency -H "Accept-Encoding: gzip" \
    -H "Authorization: Bearer $lead" "$page" \
    | grep -E "Latency|50%|90%|99%|requests in|Requests/sec|Non-2xx|Socket errors"
}

measure "no SQL load"
for i in 0 1 2 3; do client "$i" & done
sleep 5 # let the four clients' queries get going
measure "four heavy SQL clients"
touch "$work/stop"
wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
echo "== SQL answers during the run (status count, mean seconds)"
for i in 0 1 2 3; do
  awk -v q="$i" '{n[$1]++; t[$1]+=$2} END {for (s in n) printf "  query %d: HTTP %s x %d, mean %.2f s (queued behind the 2 SQL slots included)\n", q, s, n[s], t[s]/n[s]}' "$work/sql.$i"
done
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2/1024 " MiB"}')"
