#!/usr/bin/env bash
# Runs one fuzz target for a while, single process, with the limits docs/robustness.md
# gives:   fuzz/run.sh TARGET [SECONDS]   (TARGET: reader, decode or tracker; default 600 s)
# A failing input is left in fuzz/artifacts/TARGET/; see docs/robustness.md for what next.
# FUZZ_SANITIZER=none runs without AddressSanitizer: several times the executions for the
# safe Rust that most of synack is (the default is address).
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: run.sh reader|decode|tracker [SECONDS]}
secs=${2:-600}
./seed.sh >/dev/null
# cargo-fuzz needs nightly features (sanitizers); RUSTC_BOOTSTRAP lets stable provide them.
RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer "${FUZZ_SANITIZER:-address}" "$target" -- \
  -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
