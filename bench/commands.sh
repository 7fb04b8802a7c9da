#!/usr/bin/env bash
# Every command beside `synack report` on the 10 M-packet snaplen-96 trace, as ratios to
# report measured in the same run, with peak memory (issue 24).
#
#   bench/commands.sh                     # 10 M packets, 5 runs each, round-robin
#   PACKETS=2000000 RUNS=7 bench/commands.sh
#   CALLGRIND=1 PACKETS=500000 bench/commands.sh   # instructions instead of seconds
#
# The trace is bench/run.sh's (examples/mktrace.rs, seed 1, cut to 96 bytes; kept in
# $BENCH_DIR, so the two scripts share it). The commands run round-robin $RUNS times, so
# that the machine's drift falls on all of them alike; each one's median time is kept,
# and its largest peak RSS (GNU time). On a shared or busy machine wall-clock ratios
# wander: CALLGRIND=1 counts instructions (valgrind), one run each, on a smaller trace
# (PACKETS=500000: under 64 MiB, so every command runs on one thread there).
# SYNACK=path/to/synack measures that binary, unbuilt.
# Targets: check <= 1.2 x report, report --all <= 2 x, ladder <= 2 x; each < 100 MiB
# (the record formats and the HTML page too: issue 18's memory bound).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKETS=${PACKETS:-10000000}
RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-target/bench}
SEED=${SEED:-1}
CALLGRIND=${CALLGRIND:-}
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: needs GNU time (apt-get install -y time)" >&2; exit 2; }
if [ -n "$CALLGRIND" ]; then
    command -v valgrind > /dev/null || { echo "bench: CALLGRIND=1 needs valgrind" >&2; exit 2; }
fi

# SYNACK names the binary to measure (default: the release build, built first).
target=${CARGO_TARGET_DIR:-target}
bin=${SYNACK:-$target/release/synack}
[ -n "${SYNACK:-}" ] || cargo build --release --quiet --bin synack
mkdir -p "$BENCH_DIR"
trace="$BENCH_DIR/trace-$PACKETS-snap96.pcap"
if [ ! -s "$trace" ] || [ ! -s "$trace.truth.json" ]; then
    cargo build --release --quiet --example mktrace
    echo "generating $trace ($PACKETS packets, snaplen 96)" >&2
    "$target/release/examples/mktrace" --packets "$PACKETS" --seed "$SEED" --snaplen 96 --out "$trace" >&2
fi
rules=tests/golden/rules.toml # 47 rules: every figure, filters, both severities
# The last connection: its ladder reads the input to its end twice.
last=$("$bin" report "$trace" | sed -n 's/^TCP connections: \([0-9]*\).*/\1/p')

# Name, then the synack arguments (the trace goes last).
COMMANDS=(
    "report|report"
    "check, 1 rule|check --max-rst 0"
    "check, 47 rules|check --rules $rules"
    "check, 47 rules, json|check --rules $rules --format json"
    "check, 47 rules, json, 10 listed|check --rules $rules --format json --offenders 10"
    "report --all|report --all"
    "report --all --wide|report --all --wide"
    "report --abnormal|report --abnormal"
    "ladder|ladder"
    "ladder --abnormal|ladder --abnormal"
    "ladder --conn LAST|ladder --conn $last"
    "report --format zeek|report --format zeek"
    "report --format zeek-json|report --format zeek-json"
    "report --format json|report --format json"
    "report --format parquet|report --format parquet -o $BENCH_DIR/out.parquet"
    "report --format html|report --format html -o $BENCH_DIR/out.html"
)

cat "$trace" > /dev/null # page cache: measure the programs, not the disk
bytes=$(stat -L -c %s "$trace")
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "synack $(git describe --always --dirty 2>/dev/null || echo '?'); $trace: $PACKETS packets, $((bytes / 1000000)) MB"

if [ -n "$CALLGRIND" ]; then
    printf '%-28s %16s %10s\n' command instructions "x report"
    base=
    for entry in "${COMMANDS[@]}"; do
        name=${entry%%|*}
        # shellcheck disable=SC2206 # the arguments are words
        args=(${entry#*|})
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "${args[@]}" "$trace" \
            > /dev/null 2> "$BENCH_DIR/callgrind.log" || true
        ir=$(grep -o 'Collected : [0-9]*' "$BENCH_DIR/callgrind.log" | grep -o '[0-9]*$')
        base=${base:-$ir}
        awk -v n="$name" -v i="$ir" -v b="$base" 'BEGIN { printf "%-28s %16d %10.2f\n", n, i, i / b }'
    done
    exit 0
fi

declare -A times rss
for _ in $(seq "$RUNS"); do
    for entry in "${COMMANDS[@]}"; do
        name=${entry%%|*}
        # shellcheck disable=SC2206
        args=(${entry#*|})
        # check exits 1 when a rule breaks: that is its answer, not a failure here.
        "$TIME" -f "%e %M" -o "$BENCH_DIR/time.out" "$bin" "${args[@]}" "$trace" > /dev/null 2>&1 || true
        read -r t m < <(tail -n 1 "$BENCH_DIR/time.out")
        times[$name]="${times[$name]:-} $t"
        [ "$m" -gt "${rss[$name]:-0}" ] && rss[$name]=$m
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-28s %8s %10s %10s   %s\n' command median "x report" "peak MiB" "runs (s)"
base=$(echo "${times[report]}" | median)
for entry in "${COMMANDS[@]}"; do
    name=${entry%%|*}
    m=$(echo "${times[$name]}" | median)
    awk -v n="$name" -v s="$m" -v b="$base" -v r="${rss[$name]}" -v all="${times[$name]}" \
        'BEGIN { printf "%-28s %8.2f %10.2f %10.1f  %s\n", n, s, s / b, r / 1024, all }'
done
