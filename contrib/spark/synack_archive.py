#!/usr/bin/env python3
"""synack over an archive of captures, on Spark (README.md beside this file).

Capture sets — a directory, or a path prefix, of rotated files from one sensor — are read
by one `synack report --format parquet` run each, on the executors, one task per set (a
connection crosses the files of its set, so a set is never split). The connection
records (docs/records.md) become one Parquet dataset partitioned by date and sensor, and
the fleet summary (synack's summary, same definitions: fleet_summary.sql) and the top
endpoints by RST sent, refusals and unanswered SYNs are computed in Spark SQL.

    spark-submit --master local[2] --files target/release/synack \\
        contrib/spark/synack_archive.py --out /tmp/conn 'fixtures/archive/sensor-*/*'
"""

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY_SQL = os.path.join(HERE, "fleet_summary.sql")
TOP_SQL = os.path.join(HERE, "top_endpoints.sql")
GLOB_CHARS = set("*?[{")


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Run synack over capture sets on Spark: records as Parquet "
        "(partitioned by date and sensor), the fleet summary and the top endpoints."
    )
    p.add_argument(
        "sets",
        nargs="*",
        help="capture sets: a directory, a prefix of rotated files, or a glob whose every "
        "match is a set; any path Spark reads (file:, hdfs:, s3a:, gs:, abfs:...). "
        "NAME=PATH names the set's sensor.",
    )
    p.add_argument("--sets-file", help="a file listing sets, one a line (as the arguments)")
    p.add_argument("--out", required=True, help="the Parquet dataset to write")
    p.add_argument(
        "--mode",
        default="overwrite",
        choices=["overwrite", "append"],
        help="what to do with a dataset already at --out (default: overwrite)",
    )
    p.add_argument(
        "--sensor-level",
        type=int,
        default=1,
        help="a set's sensor, when not named: the name of the directory this many levels "
        "above the set's directory (a directory set's own, a prefix set's parent); "
        "default 1: .../SENSOR/DAY",
    )
    p.add_argument(
        "--synack",
        default="synack",
        help="the synack binary: a file shipped with --files (its name), or a path on "
        "every executor (default: synack)",
    )
    p.add_argument(
        "--synack-args",
        default="",
        help="more arguments for each synack run, e.g. '--msl 30' or a filter '-f \"tcp port 443\"'",
    )
    p.add_argument("--top", type=int, default=10, help="top endpoints listed (default 10)")
    p.add_argument("--summary-json", help="also write the summaries and the top endpoints here")
    p.add_argument(
        "--per-set",
        action="store_true",
        help="also summarize each set (and each sensor) in the JSON",
    )
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------
# The driver: finding the sets' files through Hadoop's FileSystem (any store Spark reads)
# ---------------------------------------------------------------------------------------


class Store:
    """Lists files through the JVM's Hadoop FileSystem, as Spark itself does."""

    def __init__(self, spark):
        self.jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def path(self, text):
        return self.jvm.org.apache.hadoop.fs.Path(text)

    def fs(self, path):
        return path.getFileSystem(self.conf)

    def glob(self, text):
        path = self.path(text)
        found = self.fs(path).globStatus(path)
        return sorted(str(s.getPath().toString()) for s in (found or []))

    def status(self, text):
        path = self.path(text)
        fs = self.fs(path)
        if not fs.exists(path):
            return None
        return fs.getFileStatus(path)

    def files_under(self, text):
        path = self.path(text)
        it = self.fs(path).listFiles(path, True)
        out = []
        while it.hasNext():
            out.append(str(it.next().getPath().toString()))
        return sorted(out)

    def files_with_prefix(self, text):
        path = self.path(text)
        parent = path.getParent()
        if parent is None:
            return []
        fs = self.fs(parent)
        if not fs.exists(parent):
            return []
        name = path.getName()
        return sorted(
            str(s.getPath().toString())
            for s in fs.listStatus(parent)
            if s.isFile() and s.getPath().getName().startswith(name)
        )


def dir_names(path_text):
    """The directory names of a path, root first, without its scheme and host."""
    rest = path_text.split("://", 1)[-1] if "://" in path_text else path_text
    if path_text.startswith("file:") and "://" not in path_text:
        rest = path_text[len("file:") :]
    if "://" in path_text:
        rest = rest.split("/", 1)[-1] if "/" in rest else ""
    return [part for part in rest.split("/") if part]


def sensor_of(set_dir, level):
    names = dir_names(set_dir)
    if level < len(names):
        return names[len(names) - 1 - level]
    return names[0] if names else "unknown"


def find_sets(store, specs, level):
    """Each spec's sets as (set, sensor, files), in the order given; a spec that finds no
    file is an error."""
    sets = []
    for spec in specs:
        sensor = None
        if "=" in spec.split("/", 1)[0] and not spec.startswith(("/", ".")):
            sensor, spec = spec.split("=", 1)
        if GLOB_CHARS & set(spec):
            matches = store.glob(spec)
        else:
            matches = [spec]
        if not matches:
            raise SystemExit(f"synack_archive: {spec}: nothing matches")
        for match in matches:
            st = store.status(match)
            if st is not None and st.isDirectory():
                files, set_dir = store.files_under(match), match
            elif st is not None:
                files, set_dir = [match], match.rsplit("/", 1)[0]
            else:
                files, set_dir = store.files_with_prefix(match), match.rsplit("/", 1)[0]
            if not files:
                raise SystemExit(f"synack_archive: {match}: no file in this set")
            # A prefix or file set's own directory is one level down from a directory set's.
            extra = 0 if st is not None and st.isDirectory() else -1
            name = sensor or sensor_of(set_dir, level + extra if level + extra >= 0 else 0)
            sets.append({"set": match, "sensor": name, "files": files})
    return sets


# ---------------------------------------------------------------------------------------
# The executors: one synack run per set
# ---------------------------------------------------------------------------------------


def executable(name):
    """The synack binary on this executor: shipped with --files (SparkFiles), or a path."""
    from pyspark import SparkFiles

    candidates = []
    try:
        candidates.append(SparkFiles.get(os.path.basename(name)))
    except Exception:  # no SparkContext files on this worker
        pass
    candidates += [name, shutil.which(name) or ""]
    for c in candidates:
        if c and os.path.isfile(c):
            if not os.access(c, os.X_OK):
                # --files may drop the execute bit: run a copy that has it.
                copy = os.path.join(tempfile.mkdtemp(prefix="synack-bin-"), "synack")
                shutil.copy(c, copy)
                os.chmod(copy, os.stat(copy).st_mode | stat.S_IXUSR)
                return copy
            return c
    raise RuntimeError(f"synack binary {name!r} not found on this executor (ship it with --files)")


def local_path(uri):
    if uri.startswith("file://"):
        return uri[len("file://") :]
    if uri.startswith("file:"):
        return uri[len("file:") :]
    if "://" not in uri:
        return uri
    return None


def fetch(files, into):
    """Local paths for the set's files: local ones as they are, others copied here
    (through pyarrow's file systems: S3, GCS, HDFS, Azure)."""
    import pyarrow.fs as pafs

    out = []
    for i, uri in enumerate(files):
        path = local_path(uri)
        if path is not None:
            out.append(path)
            continue
        fs, inner = pafs.FileSystem.from_uri(uri.replace("s3a://", "s3://", 1))
        target = os.path.join(into, f"{i:06d}-{os.path.basename(inner)}")
        with fs.open_input_stream(inner) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 4 << 20)
        out.append(target)
    return out


def run_synack(binary, files, out, extra):
    cmd = [binary, "report", "--format", "parquet", "-o", out, "--threads", "1", *extra, *files]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    errors = done.stderr.decode("utf-8", "replace").strip()
    # 2: an input could not be read whole: the records of what was read are written, or
    # no file at all when nothing could be read.
    if done.returncode not in (0, 2) or (done.returncode == 0 and not os.path.exists(out)):
        raise RuntimeError(f"synack failed ({done.returncode}): {errors}")
    return errors


def records_of_sets(binary_name, extra, arrow_schema):
    """The mapInArrow function: each input row is a set; out come its records."""

    def run(batches):
        import pyarrow as pa
        import pyarrow.parquet as pq

        binary = executable(binary_name)
        for batch in batches:
            for row in batch.to_pylist():
                with tempfile.TemporaryDirectory(prefix="synack-set-") as tmp:
                    files = fetch(row["files"], tmp)
                    out = os.path.join(tmp, "records.parquet")
                    errors = run_synack(binary, files, out, extra)
                    if errors:
                        print(f"synack_archive: set {row['set']}: {errors}", file=sys.stderr)
                    if not os.path.exists(out):
                        continue
                    table = pq.read_table(out)
                    n = table.num_rows
                    table = table.append_column("capture_set", pa.array([row["set"]] * n, pa.string()))
                    table = table.append_column("sensor", pa.array([row["sensor"]] * n, pa.string()))
                    table = table.cast(arrow_schema)
                    yield from table.to_batches()

    return run


def records_schema(binary):
    """The Parquet schema the binary writes: its records of a capture with no packet."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="synack-schema-") as tmp:
        empty = os.path.join(tmp, "empty.pcap")
        with open(empty, "wb") as f:
            # A pcap file header (µs, Ethernet) and no record.
            f.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
        out = os.path.join(tmp, "schema.parquet")
        run_synack(binary, [empty], out, [])
        return pq.read_schema(out)


# ---------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------

COUNT_GROUPS = {
    "handshakes": ["attempted", "completed", "syn_retransmits", "synack_retransmits"],
    "closes": [
        "fin",
        "reset",
        "refused",
        "unanswered",
        "handshake_incomplete",
        "half_closed",
        "open",
        "midstream",
        "abnormal",
    ],
    "rst": ["packets", "from_client", "from_server", "answering_syn"],
    "time_wait": ["client", "server", "simultaneous", "reused"],
    "keepalive": ["probes", "acks", "unanswered", "connections"],
    "apps": ["none", "unknown", "http", "websocket", "tls", "ssh"],
}
FLAT = [
    "connections",
    "fin_packets",
    "zero_window_probes",
    "retransmissions",
    "out_of_order",
    "spurious_retransmissions",
    "network_duplicates",
    "lost_before_capture",
    "lost_after_capture",
    "tshark_retransmissions",
    "tshark_out_of_order",
]
LATENCIES = [
    "handshake_rtt_ms",
    "connect_ms",
    "syn_to_synack_ms",
    "synack_to_ack_ms",
    "rtt_client_side_ms",
    "rtt_server_side_ms",
]


def column(group, name):
    if group == "handshakes" and name in ("syn_retransmits", "synack_retransmits"):
        return name
    return f"{group}_{name}"


def nested(rows):
    """fleet_summary.sql's rows (one per group and latency figure) as synack's JSON
    summary, one per group."""
    out = {}
    for row in rows:
        grp = row["grp"]
        s = out.get(grp)
        if s is None:
            s = {k: int(row[k] or 0) for k in FLAT}
            for group, names in COUNT_GROUPS.items():
                s[group] = {n: int(row[column(group, n)] or 0) for n in names}
            for figure in LATENCIES:
                s[figure] = {"count": 0, "min": None, "p50": None, "p90": None, "p99": None, "max": None}
            out[grp] = s
        if row["figure"] is not None:
            s[row["figure"]] = {
                "count": int(row["count"]),
                **{k: float(row[k]) for k in ("min", "p50", "p90", "p99", "max")},
            }
    return out


def summarize(spark, records, grp):
    records.selectExpr(f"{grp} AS grp", "*").createOrReplaceTempView("records")
    with open(SUMMARY_SQL) as f:
        sql = f.read()
    return nested(r.asDict() for r in spark.sql(sql).collect())


def top_endpoints(spark, records, n):
    records.createOrReplaceTempView("records")
    with open(TOP_SQL) as f:
        sql = f.read()
    out = {}
    for r in spark.sql(sql).collect():
        rows = out.setdefault(r["ranking"], [])
        if len(rows) < n:
            rows.append({"endpoint": r["endpoint"], "count": int(r["count"]), "sensors": int(r["sensors"])})
    return out


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from pyspark.sql import SparkSession, functions as F
    from pyspark.sql.pandas.types import from_arrow_schema
    import pyarrow as pa
    import shlex

    spark = (
        SparkSession.builder.appName("synack-archive")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    specs = list(args.sets)
    if args.sets_file:
        with open(args.sets_file) as f:
            specs += [line.strip() for line in f if line.strip() and not line.startswith("#")]
    if not specs:
        raise SystemExit("synack_archive: no capture set given")
    sets = find_sets(Store(spark), specs, args.sensor_level)
    extra = shlex.split(args.synack_args)

    schema = records_schema(executable(args.synack))
    schema = schema.append(pa.field("capture_set", pa.string())).append(pa.field("sensor", pa.string()))
    spark_schema = from_arrow_schema(schema)
    arrow_schema = schema

    # One partition per set, so that each set is one task (and one synack run).
    sets_df = spark.createDataFrame(
        [(s["set"], s["sensor"], s["files"]) for s in sets], "set string, sensor string, files array<string>"
    ).repartition(len(sets), "set")
    records = sets_df.mapInArrow(records_of_sets(args.synack, extra, arrow_schema), spark_schema)
    records = records.withColumn("date", F.date_format("ts", "yyyy-MM-dd"))
    records.write.mode(args.mode).partitionBy("date", "sensor").parquet(args.out)

    written = spark.read.parquet(args.out).where(F.col("capture_set").isin([s["set"] for s in sets]))
    result = {
        "sets": [{"set": s["set"], "sensor": s["sensor"], "files": len(s["files"])} for s in sets],
        "summary": summarize(spark, written, "'fleet'").get("fleet"),
        "top": top_endpoints(spark, written, args.top),
    }
    if args.per_set:
        result["per_set"] = summarize(spark, written, "capture_set")
        result["per_sensor"] = summarize(spark, written, "sensor")
    text = json.dumps(result, indent=2)
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            f.write(text + "\n")
    print(text)
    spark.stop()


if __name__ == "__main__":
    main()
