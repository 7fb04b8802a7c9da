#!/usr/bin/env bash
# The record formats (issue 18) against the table report, in one run: time as a ratio to
# the table's, and peak memory. Then the automatic thread choice against one thread on a
# small trace.
#
#   bench/records.sh                         # 10 M packets at snaplen 96, then 1 M
#   PACKETS=2000000 RUNS=5 bench/records.sh
#
# Traces are made and kept as bench/run.sh makes them (examples/mktrace.rs, seeded, in
# $BENCH_DIR). Commands run round-robin $RUNS times; each keeps its fastest run and its
# largest peak RSS (GNU time). Every output goes to /dev/null. Targets:
#   zeek, zeek-json, parquet  <= 1.15 x the table's time with two threads, < 100 MiB
#   default threads           never slower than --threads 1
set -euo pipefail
cd "$(dirname "$0")/.."

PACKETS=${PACKETS:-10000000}
SMALL=${SMALL:-1000000}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-target/bench}
SEED=${SEED:-1}
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: needs GNU time (apt-get install -y time)" >&2; exit 2; }

cargo build --release --quiet --bin synack --example mktrace
bin=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$BENCH_DIR"

trace() { # packets snaplen
    local out="$BENCH_DIR/trace-$1-snap$2.pcap"
    if [ ! -s "$out" ]; then
        echo "generating $out ($1 packets, snaplen $2)" >&2
        "$bin/examples/mktrace" --packets "$1" --seed "$SEED" --snaplen "$2" --out "$out" >&2
    fi
    echo "$out"
}

# name → command line after `synack report`
args_of() {
    case $1 in
        table) ARGS=(--threads 2) ;;
        zeek) ARGS=(--threads 2 --format zeek) ;;
        zeek-json) ARGS=(--threads 2 --format zeek-json) ;;
        parquet) ARGS=(--threads 2 --format parquet -o /dev/null) ;;
        json) ARGS=(--threads 2 --format json) ;;
        default) ARGS=() ;;
        threads-1) ARGS=(--threads 1) ;;
        threads-2) ARGS=(--threads 2) ;;
    esac
}

measure() { # file names...
    local file=$1
    shift
    local -a names=("$@") best=() rss=()
    local i t m
    cat "$file" > /dev/null # page cache: measure the programs, not the disk
    for _ in $(seq "$RUNS"); do
        for i in "${!names[@]}"; do
            args_of "${names[$i]}"
            "$TIME" -f "%e %M" -o "$BENCH_DIR/time.out" "$bin/synack" report "${ARGS[@]}" "$file" > /dev/null
            read -r t m < "$BENCH_DIR/time.out"
            if [ -z "${best[$i]:-}" ] || awk "BEGIN{exit !($t < ${best[$i]})}"; then best[$i]=$t; fi
            [ "$m" -gt "${rss[$i]:-0}" ] && rss[$i]=$m
        done
    done
    printf '\n%s (%s MB)\n' "$file" "$(($(stat -c %s "$file") / 1000000))"
    printf '%-12s %8s %10s %10s\n' format seconds "peak MiB" "x first"
    for i in "${!names[@]}"; do
        awk -v n="${names[$i]}" -v s="${best[$i]}" -v m="${rss[$i]}" -v b="${best[0]}" 'BEGIN {
            printf "%-12s %8.2f %10.1f %10.2f\n", n, s, m / 1024, s / b }'
    done
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "synack $(git describe --always --dirty 2>/dev/null || echo '?')"
big=$(trace "$PACKETS" 96)
rows=$("$bin/synack" report --format zeek "$big" | grep -vc '^#')
echo "$rows connections"
measure "$big" table zeek zeek-json parquet json
measure "$(trace "$SMALL" 96)" threads-1 default threads-2
