#!/usr/bin/env bash
# Ingest while serving, under load: the sample extracts but the last four
# are ingested, the real server serves that store, and 64 readers (half
# the league API, half the league page) and four analysts (POST /api/sql)
# keep it busy while the last four extracts are ingested one after another
# by separate `vigil ingest` processes. Fails on any 5xx, on any answer
# that is not from one committed catalog, on caches that do not follow a
# commit within a minute, or on server memory that grows by more than a
# quarter across the ingests; prints the request count and the server's
# RSS after each ingest.
#
#   bench/ingest_under_load.sh [READERS]        (default 64)
#
# It is the test `tests/load.rs` (16 readers in CI) with more readers, in
# the release profile.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL_LOAD_READERS=${1:-64} cargo test --release --test load -- --nocapture 2>&1 \
  | grep -E "requests by|test result|panicked|problem|as of|sql:" 
