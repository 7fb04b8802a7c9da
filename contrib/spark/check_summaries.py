#!/usr/bin/env python3
"""Checks the archive job's figures against synack's own (run by tests/spark.rs).

    check_summaries.py spark  --synack BIN --work DIR SET...   # the Spark job, local[2]
    check_summaries.py duckdb --synack BIN --work DIR SET...   # the DuckDB query

Each SET is NAME=PATH (a directory or a prefix of rotated files). synack reads each set
(`report --format json`) and all of them in one run; the Spark job (or, for DuckDB,
`report --format parquet` of each set and fleet_summary.sql) must give the same summary,
figure by figure: per set, and for the fleet. Prints what differs; exit 1 if anything does.
"""

import argparse
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


# The job's --top here: more than any ranking of the test sets has endpoints.
TOP_ALL = 1000


def set_files(path):
    if os.path.isdir(path):
        found = [p for p in glob.glob(os.path.join(path, "**", "*"), recursive=True) if os.path.isfile(p)]
    else:
        found = glob.glob(glob.escape(path) + "*")
    return sorted(found)


def synack_report(binary, files):
    done = subprocess.run(
        [binary, "report", "--format", "json", "--threads", "1", *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if done.returncode not in (0, 2):
        raise SystemExit(f"synack failed: {done.stderr.decode()}")
    return json.loads(done.stdout)


def synack_json(binary, files):
    return synack_report(binary, files)["summary"]


def host(endpoint):
    """The address of `10.0.0.1:80` or `[2001:db8::1]:80`."""
    return endpoint.rsplit(":", 1)[0].strip("[]")


def top_from_reports(reports):
    """top_endpoints.sql's counts, from synack's JSON connections: RSTs sent per address,
    refused and unanswered connections per server."""
    counts = {"rst_sent": {}, "refusals": {}, "unanswered": {}}
    for connections in reports:
        for c in connections:
            for side in ("client", "server"):
                n = c["rst"][side]
                if n:
                    key = host(c[side])
                    counts["rst_sent"][key] = counts["rst_sent"].get(key, 0) + n
            for ranking, close in (("refusals", "refused"), ("unanswered", "unanswered")):
                if c["close"] == close:
                    counts[ranking][c["server"]] = counts[ranking].get(c["server"], 0) + 1
    return counts


# The summary's "who causes the trouble" lists (`summary.top`) are checked against
# top_endpoints.sql's rankings below, recounted from the connections.
NOT_IN_FLEET_SUMMARY = {"top"}

def compare(name, want, got, problems, top_level=True):
    """Every figure of synack's summary `want` in `got`; latencies to the nanosecond."""
    for key, value in want.items():
        if top_level and key in NOT_IN_FLEET_SUMMARY:
            continue
        where = f"{name}: {key}"
        if key not in got:
            problems.append(f"{where}: missing")
        elif isinstance(value, dict):
            compare(where, value, got[key], problems, top_level=False)
        elif isinstance(value, float) or isinstance(got[key], float):
            if value is None or got[key] is None:
                if value != got[key]:
                    problems.append(f"{where}: synack {value}, archive {got[key]}")
            elif round(float(value), 6) != round(float(got[key]), 6):
                problems.append(f"{where}: synack {value}, archive {got[key]}")
        elif value != got[key]:
            problems.append(f"{where}: synack {value}, archive {got[key]}")


def spark_summaries(args, sets):
    import pyspark

    submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    out = os.path.join(args.work, "conn")
    summary = os.path.join(args.work, "summary.json")
    cmd = [
        submit,
        "--master",
        "local[2]",
        "--conf",
        "spark.ui.enabled=false",
        "--files",
        args.synack,
        os.path.join(HERE, "synack_archive.py"),
        "--synack",
        os.path.basename(args.synack),
        "--out",
        out,
        "--per-set",
        # Every endpoint of each ranking, so the whole list is compared below.
        "--top",
        str(TOP_ALL),
        "--summary-json",
        summary,
        *[f"{name}={path}" for name, path in sets],
    ]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode("utf-8", "replace")[-6000:])
        raise SystemExit(f"spark-submit failed ({done.returncode})")
    with open(summary) as f:
        result = json.load(f)
    partitions = sorted(
        os.path.relpath(d, out) for d in glob.glob(os.path.join(out, "date=*", "sensor=*"))
    )
    return result["summary"], result["per_set"], result["top"], partitions


def duckdb_summaries(args, sets):
    import duckdb
    sys.path.insert(0, HERE)
    from synack_archive import nested

    paths = []
    for i, (name, path) in enumerate(sets):
        out = os.path.join(args.work, f"set-{i}.parquet")
        done = subprocess.run(
            [args.synack, "report", "--format", "parquet", "-o", out, *set_files(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if done.returncode not in (0, 2):
            raise SystemExit(f"synack failed: {done.stderr.decode()}")
        if os.path.exists(out):
            paths.append((path, out))
    con = duckdb.connect()
    union = " UNION ALL ".join(
        f"SELECT '{p}' AS capture_set, * FROM read_parquet('{o}')" for p, o in paths
    )
    sql = open(os.path.join(HERE, "fleet_summary.sql")).read()

    def run(grp):
        con.execute(f"CREATE OR REPLACE VIEW records AS SELECT {grp} AS grp, * FROM ({union})")
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return nested(dict(zip(names, row)) for row in cur.fetchall())

    return run("'fleet'")["fleet"], run("capture_set"), None, None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("engine", choices=["spark", "duckdb"])
    p.add_argument("--synack", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("sets", nargs="+")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    sets = [tuple(s.split("=", 1)) for s in args.sets]

    if args.engine == "spark":
        fleet, per_set, top, partitions = spark_summaries(args, sets)
    else:
        fleet, per_set, top, partitions = duckdb_summaries(args, sets)

    problems = []
    all_files = []
    want_sum = None
    connections = []
    for name, path in sets:
        files = set_files(path)
        all_files += files
        report = synack_report(args.synack, files)
        connections.append(report["connections"])
        want = report["summary"]
        got = per_set.get(path)
        if got is None and want["connections"] == 0:
            continue  # no record, so no row: nothing to compare
        if got is None:
            problems.append(f"{path}: no summary from {args.engine} (have {sorted(per_set)})")
            continue
        compare(path, want, got, problems)
        want_sum = want["connections"] + (want_sum or 0)
    # The fleet: synack reading every set in one run (the sets share no connection, so
    # that is the union of their connections; checked).
    fleet_want = synack_json(args.synack, all_files)
    if fleet_want["connections"] != want_sum:
        problems.append(
            f"fleet: one run has {fleet_want['connections']} connections, the sets {want_sum}: "
            "sets share connections, choose others"
        )
    compare("fleet", fleet_want, fleet, problems)
    if top is not None:
        # Every endpoint of each ranking, with its count.
        want_top = top_from_reports(connections)
        for ranking, want in want_top.items():
            if len(want) >= TOP_ALL:
                problems.append(f"top {ranking}: {len(want)} endpoints, raise TOP_ALL")
            got = {row["endpoint"]: row["count"] for row in top.get(ranking, [])}
            if got != want:
                problems.append(f"top {ranking}: synack {want}, archive {got}")
        for sensor in {name for name, _ in sets}:
            if not any(p.endswith(f"sensor={sensor}") for p in partitions):
                problems.append(f"no partition for sensor {sensor}: {partitions}")
    print(json.dumps({"fleet": fleet, "top": top, "partitions": partitions}, indent=1))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"{args.engine}: {len(sets)} sets, fleet and per-set summaries equal synack's")


if __name__ == "__main__":
    main()
