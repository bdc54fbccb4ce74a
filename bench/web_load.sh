#!/usr/bin/env bash
# Load on the web app: the league-table page and its JSON, 64 concurrent
# connections for 30 s each, against the release binary on loopback.
# Goal: p99 under 50 ms and no errors. Reports wrk's latency distribution.
#
#   bench/web_load.sh STORE [PERIOD] [DURATION]
#
# Build a scale-1 store first: bench/generate_ingest.sh 1 (its store is
# target/bench-scale-1/store). Needs wrk (Debian package `wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."
store=$1 period=${2:-2026-Q3} duration=${3:-30s}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
cargo build --release --quiet
port=18080
VIGIL_LOG=warn target/release/vigil serve --store "$store" --bind "127.0.0.1:$port" > /tmp/vigil-web-bench.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.5
done
base="http://127.0.0.1:$port"
# The first request scores the period (seconds at scale 1); measure that
# once, then the steady state the cache gives.
start=$(date +%s.%N)
curl -fs "$base/d/league?period=$period" -o /dev/null
echo "first (uncached) league page: $(echo "$(date +%s.%N) - $start" | bc) s"
for path in "/d/league?period=$period" "/api/league?period=$period"; do
  echo "== $path  (64 connections, $duration)"
  wrk -t2 -c64 -d"$duration" --latency -H "Accept-Encoding: gzip" "$base$path" \
    | grep -E "Latency|50%|90%|99%|requests in|Requests/sec|Non-2xx|Socket errors"
done
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2/1024 " MiB"}')"
