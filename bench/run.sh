#!/usr/bin/env bash
# Speed and memory of `synack report` beside a hand-written baseline, in one run (issue 6).
#
#   bench/run.sh                 # 10 M packets, full-size records and snaplen 96
#   PACKETS=2000000 RUNS=5 bench/run.sh
#
# Generates the traces once (examples/mktrace.rs, seeded; kept in $BENCH_DIR), warms the
# page cache, then times the commands round-robin $RUNS times and keeps each one's fastest run. Peak memory
# is GNU time's maximum resident set size. Ratios, not absolute times, are the targets:
#   synack --threads 1  >= 0.5 x the baseline's packets/s
#   synack --threads 2  >= 1.0 x the baseline's packets/s
#   peak RSS < 100 MiB
set -euo pipefail
cd "$(dirname "$0")/.."

PACKETS=${PACKETS:-10000000}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-target/bench}
SEED=${SEED:-1}
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: needs GNU time (apt-get install -y time)" >&2; exit 2; }

cargo build --release --quiet --bin synack --example baseline --example mktrace
bin=target/release
mkdir -p "$BENCH_DIR"

trace() { # name snaplen
    local out="$BENCH_DIR/$1.pcap"
    if [ ! -s "$out" ] || [ ! -s "$out.truth.json" ]; then
        echo "generating $out ($PACKETS packets, snaplen $2)" >&2
        "$bin/examples/mktrace" --packets "$PACKETS" --seed "$SEED" --snaplen "$2" --out "$out" >&2
    fi
    echo "$out"
}

# Commands of one trace, timed round-robin $RUNS times (so that the machine's drift
# over minutes falls on all of them alike, not on whichever ran last); the fastest run
# of each is kept. Peak memory is the largest of its runs.
NAMES=(baseline "synack --threads 1" "synack --threads 2"
    "synack --threads 1 --format json" "synack --threads 2 --format json")

command_of() { # name file: sets CMD
    case $1 in
        baseline) CMD=("$bin/examples/baseline" "$2") ;;
        # shellcheck disable=SC2086 # the name's words are the arguments
        *) CMD=("$bin/synack" report ${1#synack } "$2") ;;
    esac
}

report() { # file
    local file=$1 bytes base_s
    bytes=$(stat -c %s "$file")
    cat "$file" > /dev/null # page cache: measure the programs, not the disk
    printf '\n%s: %s packets, %s MB, %s B/record\n' "$file" "$PACKETS" \
        "$((bytes / 1000000))" "$((bytes / PACKETS))"
    printf '%-34s %8s %10s %9s %10s %10s\n' command seconds "Mpkt/s" "MB/s" "peak MiB" "x baseline"
    local -a best=() rss=()
    local i t m
    for _ in $(seq "$RUNS"); do
        for i in "${!NAMES[@]}"; do
            command_of "${NAMES[$i]}" "$file"
            "$TIME" -f "%e %M" -o "$BENCH_DIR/time.out" "${CMD[@]}" > /dev/null
            read -r t m < "$BENCH_DIR/time.out"
            if [ -z "${best[$i]:-}" ] || awk "BEGIN{exit !($t < ${best[$i]})}"; then best[$i]=$t; fi
            [ "$m" -gt "${rss[$i]:-0}" ] && rss[$i]=$m
        done
    done
    base_s=${best[0]}
    for i in "${!NAMES[@]}"; do
        awk -v n="${NAMES[$i]}" -v s="${best[$i]}" -v m="${rss[$i]}" -v p="$PACKETS" \
            -v b="$bytes" -v bs="$base_s" 'BEGIN {
            printf "%-34s %8.2f %10.2f %9.0f %10.1f %10.2f\n", n, s, p / s / 1e6, b / s / 1e6, m / 1024, bs / s }'
    done
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "synack $(git describe --always --dirty 2>/dev/null || echo '?')"
report "$(trace "trace-$PACKETS" 65535)"
report "$(trace "trace-$PACKETS-snap96" 96)"
