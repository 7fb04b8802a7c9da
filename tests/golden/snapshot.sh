#!/usr/bin/env bash
# Records what synack prints for every fixture and every ../shared/corpus capture, so a
# change that must not alter behaviour (a refactor) can be checked byte for byte:
#
#   tests/golden/snapshot.sh /tmp/before            # at the old commit
#   tests/golden/snapshot.sh /tmp/after             # at the new one
#   diff -r /tmp/before /tmp/after && echo identical
#
# SYNACK names the binary (default target/release/synack, built first). Each command's
# standard output, standard error and exit status go to one file per capture and command.
set -u
out=${1:?usage: snapshot.sh OUTDIR}
cd "$(dirname "$0")/../.."
bin=${SYNACK:-target/release/synack}
if [ -z "${SYNACK:-}" ]; then cargo build --release --quiet || exit 2; fi
rules=tests/golden/rules.toml
mkdir -p "$out"

run() { # name, then the command's arguments
  local name=$1; shift
  # Only the time zone may differ between machines; pin it.
  TZ=UTC NO_COLOR=1 COLUMNS=100 "$bin" "$@" >"$dir/$name.out" 2>"$dir/$name.err" </dev/null
  echo "exit $?" >>"$dir/$name.err"
  # Paths in messages are those given; keep them relative so two checkouts compare.
  sed -i "s#$PWD/##g" "$dir/$name.out" "$dir/$name.err"
}

captures=$(find fixtures -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.txt' \) | sort)
if [ -d ../shared/corpus ]; then
  captures="$captures $(find ../shared/corpus -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) | sort)"
fi
for f in $captures; do
  dir="$out/$(echo "$f" | sed 's#^\.\./shared/##; s#/#__#g')"
  mkdir -p "$dir"
  run report report "$f"
  run report-all report --all --msl 30 "$f"
  run report-abnormal report --abnormal "$f"
  run report-top report --top 3 "$f"
  run json report --format json "$f"
  run json-all report --format json --all "$f"
  run threads2 report --threads 2 --format json --all "$f"
  run filter report --all -f 'tcp port 80' "$f"
  run ladder ladder "$f"
  run ladder-full ladder --full --abnormal --svg "$dir/ladder.svg" "$f"
  run check check "$f" --max-rst 0 --max-handshake-p99-ms 50 --min-connections 1
  run check-rules check "$f" --rules "$rules" --format json --junit "$dir/junit.xml"
  run check-text check "$f" --rules "$rules" --offenders 3
  run capture capture -r "$f" --utc
  run capture-v capture -r "$f" --utc -v
  run capture-json capture -r "$f" --json --interval 1 --idle-timeout 30
  # JUnit carries the wall-clock time each check took.
  [ -f "$dir/junit.xml" ] && sed -i 's/ time="[0-9.]*"/ time="T"/g' "$dir/junit.xml"
done
echo "$(echo "$captures" | wc -w) captures recorded in $out"
