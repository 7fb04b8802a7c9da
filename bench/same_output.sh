#!/usr/bin/env bash
# Compares two synack binaries' outputs on every fixture and corpus capture: `report
# --format json` and `--format zeek` (and `--format zeek --threads 2`), byte for byte.
# A change meant to alter no figure (a speed or memory change) must leave all of them
# equal. Usage: bench/same_output.sh OLD_BINARY NEW_BINARY [DIR...]
# (default DIRs: fixtures and ../shared/corpus, when present).
set -u
old=$1 new=$2
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
    dirs=("$here/fixtures")
    [ -d "$here/../shared/corpus" ] && dirs+=("$here/../shared/corpus")
    [ -d /work/shared/corpus ] && dirs+=(/work/shared/corpus)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=0 differ=0
while IFS= read -r f; do
    files=$((files + 1))
    for args in "--format json" "--format zeek" "--format zeek --threads 2" "--format zeek --verify-checksums"; do
        # shellcheck disable=SC2086
        "$old" report $args "$f" >"$tmp/old" 2>&1
        a=$?
        # shellcheck disable=SC2086
        "$new" report $args "$f" >"$tmp/new" 2>&1
        b=$?
        if [ $a -ne $b ] || ! cmp -s "$tmp/old" "$tmp/new"; then
            echo "DIFFERS: $f ($args; exit $a/$b)"
            differ=$((differ + 1))
        fi
    done
done < <(find "${dirs[@]}" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) | sort -u)
echo "$files captures, $differ differing outputs"
[ $differ -eq 0 ]
