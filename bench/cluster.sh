#!/usr/bin/env bash
# Scoring on a vigil cluster made on this machine (one scheduler, one or
# two executors) against one process, and where a cluster's time goes.
#
#   bench/cluster.sh [STORE] [PERIOD]
#
# STORE defaults to the 10-million-case store bench/facts.sh builds
# (target/bench-facts/s41/store), PERIOD to 2025. For each set-up it runs
# `vigil score --period PERIOD --format csv` RUNS times (default 3) after
# one warm-up run, checks the output is byte for byte the one process's,
# and prints:
#
#   wall       median seconds of the whole client process
#   jobs       Ballista jobs per score (one per statement sent)
#   planning   the scheduler's planning of those jobs, seconds per score
#   scan       summed task time of stages that read Parquet, seconds
#   later      summed task time of the other stages (shuffle reads, joins,
#              final aggregation), seconds
#   shuffle    bytes of shuffle files the executors wrote per score
#
# Task times are summed over tasks, so with several task slots they can
# exceed the wall time. The rest of the wall time is the client's own work
# (catalog, context, ranks and bootstrap) and the round trips between
# client, scheduler and executors.
#
# Set-ups: one process; 1 executor running 2 tasks at a time; 2 executors
# running 1 task each (the same two cores, shared differently).
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-target/bench-facts/s41/store}
period=${2:-2025}
runs=${RUNS:-3}
work=${WORK:-target/bench-cluster}
if [ -z "${VIGIL_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${VIGIL_BIN:-$PWD/target/release/vigil}
[ -f "$store/catalog.json" ] || { echo "no store at $store (run bench/facts.sh first)" >&2; exit 1; }
rm -rf "$work"; mkdir -p "$work"
pids=()
stop_nodes() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap stop_nodes EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Every score computes its counts: those an earlier run kept in the
# store (cache/) are removed first.
forget() { rm -rf "$store/cache"; }

# timed_runs LABEL CLUSTER_ARGS... -> appends wall seconds to $work/LABEL.runs
timed_runs() {
  local label=$1; shift
  forget; "$bin" score --period "$period" --store "$store" --format csv "$@" > "$work/$label.out"
  cmp -s "$work/$label.out" "$work/local.out" || { echo "$label: output differs from one process" >&2; exit 1; }
  for _ in $(seq "$runs"); do
    forget; /usr/bin/time -f "%e" -o "$work/.t" "$bin" score --period "$period" --store "$store" --format csv "$@" > /dev/null
    cat "$work/.t" >> "$work/$label.runs"
  done
}
median() { sort -n "$work/$1.runs" | awk '{ s[NR] = $1 } END { printf "%.2f", (NR % 2 ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2) }'; }

export VIGIL_LOG=warn
forget; "$bin" score --period "$period" --store "$store" --format csv > "$work/local.out"
for _ in $(seq "$runs"); do
  forget; /usr/bin/time -f "%e" -o "$work/.t" "$bin" score --period "$period" --store "$store" --format csv > /dev/null
  cat "$work/.t" >> "$work/local.runs"
done

cluster() { # LABEL EXECUTORS TASKS_EACH
  local label=$1 n=$2 tasks=$3 sport
  sport=$(free_port)
  VIGIL_LOG=info "$bin" cluster scheduler --bind "127.0.0.1:$sport" > "$work/$label.scheduler.out" 2> "$work/$label.scheduler.log" &
  pids+=($!)
  sleep 1
  for i in $(seq "$n"); do
    mkdir -p "$work/$label.work$i"
    VIGIL_LOG=info,ballista_executor::metrics=debug "$bin" cluster executor \
      --scheduler "127.0.0.1:$sport" --bind "127.0.0.1:$(free_port)" --grpc-port "$(free_port)" \
      --concurrent-tasks "$tasks" --work-dir "$work/$label.work$i" \
      > /dev/null 2> "$work/$label.executor$i.log" &
    pids+=($!)
  done
  sleep 2
  timed_runs "$label" --cluster "127.0.0.1:$sport"
  stop_nodes
  python3 - "$work" "$label" "$n" "$((runs + 1))" <<'EOF'
import glob, re, sys, os
work, label, n, scores = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ansi = re.compile(r"\x1b\[[0-9;]*m")
def secs(v, unit):
    return float(v) * {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]
dur = re.compile(r"([0-9.]+)(ns|µs|us|ms|s)\b")
plan = 0.0; jobs = 0
for line in open(f"{work}/{label}.scheduler.log", errors="replace"):
    m = re.search(r"planning took " + dur.pattern, ansi.sub("", line))
    if m: plan += secs(m.group(1), m.group(2)); jobs += 1
scan = later = 0.0
for i in range(1, n + 1):
    text = ansi.sub("", open(f"{work}/{label}.executor{i}.log", errors="replace").read())
    # Which stages read Parquet: from the plans the executor logged.
    reads = set()
    for m in re.finditer(r"=== \[([^/\]]+)/(\d+)/\d+\] Physical plan with metrics ===\n(.*?)\n\n", text, re.S):
        if "file_type=parquet" in m.group(3):
            reads.add((m.group(1), m.group(2)))
    for m in re.finditer(r"Finished task : \[TID ([^/\]]+)/(\d+)\.\d+/\d+\.\d+\] in " + dur.pattern, text):
        t = secs(m.group(3), m.group(4))
        if (m.group(1), m.group(2)) in reads: scan += t
        else: later += t
shuffle = 0
for d in glob.glob(f"{work}/{label}.work*"):
    for root, _, files in os.walk(d):
        shuffle += sum(os.path.getsize(os.path.join(root, f)) for f in files)
print(f"{jobs / scores:.0f} {plan / scores:.2f} {scan / scores:.2f} {later / scores:.2f} {shuffle / scores / 1e6:.1f}MB")
EOF
}

one=$(cluster one 1 2)
two=$(cluster two 2 1)
printf '%-28s %7s %5s %9s %7s %7s %9s\n' "set-up ($period, $runs runs)" wall jobs planning scan later shuffle
printf '%-28s %7s\n' "one process" "$(median local)"
read -r j p s l sh <<< "$one"; printf '%-28s %7s %5s %9s %7s %7s %9s\n' "1 executor x 2 tasks" "$(median one)" "$j" "$p" "$s" "$l" "$sh"
read -r j p s l sh <<< "$two"; printf '%-28s %7s %5s %9s %7s %7s %9s\n' "2 executors x 1 task" "$(median two)" "$j" "$p" "$s" "$l" "$sh"
