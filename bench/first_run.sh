#!/usr/bin/env bash
# The first run of a new user: how long from `git clone` until the README's
# two commands have done their work, with nothing compiled beforehand.
#
#   bench/first_run.sh [REPO]   (default: the repository this script is in,
#                                its committed HEAD; REPO may be a path or URL)
#
# Clones REPO into a fresh temporary folder and builds into an empty
# CARGO_TARGET_DIR inside it (the crates already downloaded to CARGO_HOME
# may stay; a RUSTC_WRAPPER such as sccache is switched off so nothing comes
# from a compiler cache). Then it times, back to back:
#
#   (a) from the start of the clone until `cargo run -- demo` prints the URL
#       of the dashboards (it watches the demo's stdout for `http://`); the
#       demo is started with `--bind 127.0.0.1:0` so the OS picks a free
#       port, and once the URL is out its whole process group (cargo and
#       vigil) is stopped with SIGINT (Ctrl-C), SIGKILL if it lingers;
#   (b) `cargo test` to completion, which reuses the dependencies (a) built:
#       both are the dev profile.
#
# Prints a table: clone→URL seconds, test seconds, total, the number of
# crates in the resolved dependency tree for the host target, nproc and the
# versions used. The measured minutes go into the README's first-run note
# (the `<!-- first-run-minutes -->` marker).
#
# Environment: KEEP=1 keeps the temporary folder (logs, target, clone);
# DEMO_TIMEOUT and TEST_TIMEOUT (seconds, default 5400 each) bound the two
# steps; TMPDIR chooses where the folder goes. Needs git, cargo, setsid and
# timeout (util-linux, coreutils); curl, when present, checks /healthz.
# Takes as long as a clean build: tens of minutes on two cores.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
repo=${1:-$here}
demo_timeout=${DEMO_TIMEOUT:-5400}
test_timeout=${TEST_TIMEOUT:-5400}

work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-first-run.XXXXXX")
demo_pid=
demo_group=0
test_pid=

now() {
  if [ -n "${EPOCHREALTIME:-}" ]; then echo "${EPOCHREALTIME/,/.}"; else date +%s.%N; fi
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '%s\n' "first_run: $*" >&2; }

# stop_demo: Ctrl-C to the demo's whole process group (cargo and vigil),
# SIGKILL if it is still there after 10 s.
stop_demo() {
  [ -n "$demo_pid" ] || return 0
  local target=$demo_pid
  if [ "$demo_group" = 1 ]; then target=-$demo_pid; fi
  kill -INT -- "$target" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 -- "$target" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL -- "$target" 2>/dev/null || true
  wait "$demo_pid" 2>/dev/null || true
  demo_pid=
}

# stop_tests: `timeout` runs cargo test in a process group of its own and
# passes a SIGTERM on to it.
stop_tests() {
  [ -n "$test_pid" ] || return 0
  kill -TERM "$test_pid" 2>/dev/null || true
  wait "$test_pid" 2>/dev/null || true
  test_pid=
}

cleanup() {
  local rc=$?
  stop_demo
  stop_tests
  if [ "${KEEP:-0}" = 1 ]; then
    say "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# show_log FILE: the end of a log, for a step that failed.
show_log() {
  say "last lines of $1:"
  tail -n 40 "$1" >&2 || true
}

for tool in git cargo setsid timeout ps; do
  command -v "$tool" >/dev/null || { say "needs $tool"; exit 2; }
done

export CARGO_TARGET_DIR="$work/target"
export RUSTC_WRAPPER="" CARGO_BUILD_RUSTC_WRAPPER=""
unset CARGO_BUILD_TARGET_DIR
mkdir -p "$CARGO_TARGET_DIR"
clone="$work/vigil"

# (a) clone → demo URL ------------------------------------------------------
say "cloning $repo into $clone (temporary folder $work)"
t0=$(now)
git clone --quiet "$repo" "$clone"
t_clone=$(now)
cd "$clone"
commit=$(git rev-parse --short HEAD)

say "cargo run -- demo --bind 127.0.0.1:0 (build log: $work/demo.err)"
# setsid: cargo and the vigil it starts get a process group of their own,
# so that the whole group can be stopped.
setsid cargo run -- demo --bind 127.0.0.1:0 >"$work/demo.out" 2>"$work/demo.err" </dev/null &
demo_pid=$!
# Without job control a background job never leads a process group, so
# setsid does not fork and $demo_pid is the group's id; check anyway.
if [ "$(ps -o pgid= -p "$demo_pid" 2>/dev/null | tr -d ' ')" = "$demo_pid" ]; then
  demo_group=1
else
  say "the demo does not lead its own process group; it will be stopped by pid"
fi

url=
deadline=$(awk -v t="$t0" -v d="$demo_timeout" 'BEGIN { printf "%d", t + d }')
while :; do
  url=$(grep -m1 -o 'http://[^[:space:]]*' "$work/demo.out" 2>/dev/null || true)
  if [ -n "$url" ]; then break; fi
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    rc=0; wait "$demo_pid" || rc=$?
    demo_pid=
    say "the demo stopped (exit $rc) before printing a URL"
    show_log "$work/demo.err"; show_log "$work/demo.out"
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "no URL after ${demo_timeout}s"
    show_log "$work/demo.err"
    exit 1
  fi
  sleep 0.2
done
t_url=$(now)
say "the demo serves on $url"

health=skipped
if command -v curl >/dev/null; then
  if curl -fsS --max-time 10 "${url%/}/healthz" >/dev/null 2>&1; then health=ok; else health=FAILED; fi
fi
stop_demo

# (b) cargo test -----------------------------------------------------------
say "cargo test (log: $work/test.log)"
t_test0=$(now)
test_rc=0
timeout --kill-after=30 "$test_timeout" cargo test >"$work/test.log" 2>&1 </dev/null &
test_pid=$!
wait "$test_pid" || test_rc=$?
test_pid=
t_test1=$(now)
test_status="exit $test_rc"
if [ "$test_rc" = 124 ]; then test_status="timed out after ${test_timeout}s"; fi
if [ "$test_rc" != 0 ]; then show_log "$work/test.log"; fi
# Sums over the "test result:" line of every test binary.
passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) s += $i } END { print s + 0 }' "$work/test.log")
failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) s += $i } END { print s + 0 }' "$work/test.log")

# Crates: unique name+version in the resolved tree (normal, build and dev
# dependencies, host target), vigil itself excluded.
crates=$(cargo tree --offline --prefix none -e normal,build,dev 2>/dev/null \
  | sed -e 's/ (\*)$//' -e 's/ (proc-macro)//' -e 's/ (\/.*)$//' \
  | grep -v -e '^\[' -e '^$' | sort -u | grep -vc '^vigil v' || true)

url_s=$(secs "$t0" "$t_url")
clone_s=$(secs "$t0" "$t_clone")
test_s=$(secs "$t_test0" "$t_test1")
total_s=$(awk -v a="$url_s" -v b="$test_s" 'BEGIN { printf "%.1f", a + b }')
minutes=$(awk -v t="$total_s" 'BEGIN { printf "%.0f", t / 60 }')

printf '\n'
printf 'vigil first run: commit %s, %s CPUs (nproc), %s\n' "$commit" "$(nproc)" "$(cargo --version)"
printf '%-46s %10s\n' 'step' 'seconds'
printf '%-46s %10s\n' 'clone -> demo URL  (cargo run -- demo)' "$url_s"
printf '%-46s %10s\n' '  of which git clone' "$clone_s"
printf '%-46s %10s\n' 'cargo test  (to completion)' "$test_s"
printf '%-46s\n' "  $test_status: $passed passed, $failed failed"
printf '%-46s %10s\n' 'total' "$total_s"
printf '\n'
printf 'demo URL %s (healthz %s)\n' "$url" "$health"
printf 'crates: %s  (unique name+version in `cargo tree --prefix none -e normal,build,dev`,\n' "$crates"
printf '         host target, normal+build+dev edges, vigil itself not counted)\n'
printf 'README first-run note: about %s minutes on %s cores\n' "$minutes" "$(nproc)"

exit "$test_rc"
