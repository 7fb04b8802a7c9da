#!/usr/bin/env bash
# What reading a compressed trace costs (issue 19): `synack report` on the benchmark trace
# uncompressed, and compressed with zstd, lz4 and gzip (their default levels) and xz (-1),
# in one run. The commands run round-robin RUNS times (the machine is shared: its drift
# falls on all alike) and each one's median wall-clock time is kept; the target is a
# ratio to the uncompressed run: at most 1.30 for zstd and lz4 (docs/performance.md).
#
#   bench/compressed.sh                       # 2 M packets, full-size and snaplen 96
#   PACKETS=500000 RUNS=5 bench/compressed.sh
#   # the shared benchmark trace and its copies (docs/performance.md's figures):
#   BENCH_DIR=/work/bench PACKETS=10000000 SNAPLENS=96 FORMATS=".zst .lz4" bench/compressed.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKETS=${PACKETS:-2000000}
RUNS=${RUNS:-5}
THREADS=${THREADS:-2}
BENCH_DIR=${BENCH_DIR:-target/bench}
SEED=${SEED:-1}
SNAPLENS=${SNAPLENS:-65535 96}
# Compressed copies to time beside the plain trace (made when missing).
FORMATS=${FORMATS:-.zst .lz4 .gz .xz}
for tool in zstd lz4 gzip xz; do
    command -v $tool > /dev/null || { echo "bench: needs $tool (apt-get install -y zstd lz4 gzip xz-utils)" >&2; exit 2; }
done

cargo build --release --quiet --bin synack --example mktrace
bin=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$BENCH_DIR"
# Timings go to a scratch directory: BENCH_DIR may be a shared one of traces.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

trace() { # name snaplen: the trace and its compressed copies
    local out="$BENCH_DIR/$1.pcap"
    if [ ! -s "$out" ]; then
        echo "generating $out ($PACKETS packets, snaplen $2)" >&2
        "$bin/examples/mktrace" --packets "$PACKETS" --seed "$SEED" --snaplen "$2" --out "$out" >&2
    fi
    for ext in $FORMATS; do
        [ -s "$out$ext" ] && continue
        case $ext in
        .zst) zstd -q -T0 -f "$out" -o "$out.zst" ;;
        .lz4) lz4 -q -f "$out" "$out.lz4" ;;
        .gz) gzip -c "$out" > "$out.gz" ;;
        # xz at its fastest level: -6 takes minutes to write a full-size trace here.
        .xz) xz -1 -T0 -c "$out" > "$out.xz" ;;
        *) echo "bench: unknown format $ext (FORMATS: .zst .lz4 .gz .xz)" >&2; exit 2 ;;
        esac
    done
    echo "$out"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

report() { # file
    local file=$1 base
    local -a exts=("")
    local ext
    for ext in $FORMATS; do exts+=("$ext"); done
    for ext in "${exts[@]}"; do cat "$file$ext" > /dev/null; done # page cache
    for ext in "${exts[@]}"; do : > "$scratch/times$ext"; done
    for _ in $(seq "$RUNS"); do
        for ext in "${exts[@]}"; do
            /usr/bin/time -f "%e" -o "$scratch/one.time" \
                "$bin/synack" report --threads "$THREADS" "$file$ext" > /dev/null
            cat "$scratch/one.time" >> "$scratch/times$ext"
        done
    done
    base=$(median < "$scratch/times")
    printf '\n%s: %s packets, --threads %s, median of %s runs\n' "$file" "$PACKETS" "$THREADS" "$RUNS"
    printf '%-8s %10s %8s %10s\n' input MB seconds "x plain"
    for ext in "${exts[@]}"; do
        local s mb
        s=$(median < "$scratch/times$ext")
        mb=$(($(stat -L -c %s "$file$ext") / 1000000))
        awk -v n="${ext:-plain}" -v mb="$mb" -v s="$s" -v b="$base" \
            'BEGIN { printf "%-8s %10d %8.2f %10.2f\n", n, mb, s, s / b }'
    done
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "synack $(git describe --always --dirty 2>/dev/null || echo '?')"
for snaplen in $SNAPLENS; do
    if [ "$snaplen" = 65535 ]; then
        report "$(trace "trace-$PACKETS" 65535)"
    else
        report "$(trace "trace-$PACKETS-snap$snaplen" "$snaplen")"
    fi
done
