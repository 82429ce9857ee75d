#!/usr/bin/env python3
"""Check `tfevents convert` Parquet output with pyarrow, pandas, DuckDB and TensorBoard.

    python tests/interop/check_parquet.py --tfevents target/release/tfevents \
        --logdir fixtures/logdir --readme README.md

The logdir is converted twice into temporary directories: once in the plain layout
(DIR/<table>.parquet) and once with `--partition-by run` (DIR/<table>/run=<escaped>/...).
Then:

1. pyarrow reads every plain table; column names and Arrow types must match the documented
   schemas (run/tag dictionary<int32, string>, step int64, wall_time double, ...), and
   `to_pandas()` must work with run/tag coming out as categoricals.
2. DuckDB's `count(*)` of each plain table equals pyarrow's row count.
3. The partitioned datasets are read with DuckDB (`hive_partitioning = true`) and with
   `pyarrow.dataset` (`partitioning='hive'`); row counts and run names (per-run row counts)
   must equal the plain layout's, i.e. both readers decode the percent-escaped partition
   values back to the real run names. The partition files must not hold a run column, and
   runs.parquet / files.parquet must stay single files. A second, generated logdir with run
   names that need escaping (`=`, `%`, space, non-ASCII, a numeric-looking name) is read
   the same way, with the run partition declared as a string. What the readers infer for
   run names that all look like numbers is reported as a note, not a failure.
4. The scalars table equals TensorBoard's EventAccumulator (nothing sampled away) on every
   run, value for value: `Scalars(tag)` for TF1 `simple_value` scalars, `Tensors(tag)` for
   tensors of the "scalars" plugin. Step, wall time and value are compared exactly (NaN
   equals NaN, the sign of zero counts), and the dtype too. Rows flagged `superseded` must
   be exactly the ones EventAccumulator purges. EventAccumulator does not purge its tensor
   store, so for tensor-sourced tags superseded rows are expected to be present in it (and
   are counted). Images are compared the same way: TF1 images against `Images(tag)` (step,
   wall time, width, height, SHA-256 of the encoded bytes), TF2 image tensors against
   `Tensors(tag)`.
5. Every fenced ```sql block of the README is run in DuckDB after replacing the `tables/`
   prefix of its paths: `tables/<table>.parquet` points to the plain layout and
   `tables/<table>/...` to the partitioned one. Each block must succeed and return at
   least one row. A README without sql blocks fails this check.

Prints one line per check and ends with `N passed, M failed`; exits 0 only when M is 0.
Needs the packages in requirements.txt; TensorFlow is not needed.
"""

import argparse
import collections
import hashlib
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.compat.tensorflow_stub import dtypes
from tensorboard.util import tensor_util

MAX_DETAILS = 8

# --------------------------------------------------------------------------
# expected schemas (src/table.rs)

DICT = pa.dictionary(pa.int32(), pa.string())
F64 = pa.float64()
I64 = pa.int64()
I32 = pa.int32()
STR = pa.string()
BIN = pa.binary()
BOOL = pa.bool_()

HEAD = [("run", DICT), ("tag", DICT), ("step", I64), ("wall_time", F64)]
TAIL = [("superseded", BOOL), ("file", DICT)]

SCHEMAS = {
    "scalars": HEAD + [("value", F64), ("dtype", DICT)] + TAIL,
    "histograms": HEAD + [("min", F64), ("max", F64), ("num", F64), ("sum", F64),
                          ("sum_squares", F64), ("bucket_left", pa.list_(F64)),
                          ("bucket_right", pa.list_(F64)), ("bucket_count", pa.list_(F64))]
    + TAIL,
    "images": HEAD + [("index", I32), ("width", I64), ("height", I64), ("colorspace", I32),
                      ("format", DICT), ("data", BIN)] + TAIL,
    "audio": HEAD + [("index", I32), ("sample_rate", F64), ("channels", I64),
                     ("frames", I64), ("content_type", STR), ("label", STR), ("data", BIN)]
    + TAIL,
    "text": HEAD + [("text", STR), ("shape", pa.list_(I64)), ("texts", pa.list_(STR))] + TAIL,
    "tensors": HEAD + [("plugin", DICT), ("dtype", DICT), ("shape", pa.list_(I64)),
                       ("data", BIN), ("strings", pa.list_(BIN))] + TAIL,
    "hparams": [("run", DICT), ("name", STR), ("value", STR), ("number", F64),
                ("string", STR), ("bool", BOOL), ("group_name", STR), ("step", I64),
                ("wall_time", F64), ("superseded", BOOL)],
    "runs": [("run", STR), ("path", STR)]
    + [(c, I64) for c in ("files", "events", "scalars", "histograms", "images", "audio",
                          "text", "tensors", "hparams", "superseded")]
    + [("first_step", I64), ("last_step", I64), ("first_wall_time", F64),
       ("last_wall_time", F64), ("restarts", I64), ("status", STR), ("damaged_files", I64)],
    "files": [("run", STR), ("path", STR), ("size", I64), ("events", I64),
              ("file_version", STR), ("clean", BOOL)]
    + [(c, I64) for c in ("records_read", "bad_data_crc", "bad_length_crc", "resync_bytes",
                          "truncated_bytes", "undecodable_events", "undecodable_values",
                          "invalid_utf8")]
    + [("error", STR)],
}
TABLES = list(SCHEMAS)
VALUE_TABLES = [t for t in TABLES if t not in ("runs", "files")]

# Run names that need escaping in a partition directory; each becomes a copy of one
# fixture run in a generated logdir.
ODD_RUN_NAMES = ["lr=0.1/seed_1", "a b", "50%", "λ-run", "007", "x+y#z", "q?&r"]
# Run names that all look like numbers (reported only: readers infer a numeric type).
NUMERIC_RUN_NAMES = ["1", "2", "007"]


# --------------------------------------------------------------------------
# bookkeeping


class Checks:
    def __init__(self):
        self.results = []  # (section, name, ok, details)

    def add(self, section, name, ok, details=(), info=""):
        self.results.append((section, name, bool(ok), list(details), info))
        mark = "PASS" if ok else "FAIL"
        line = f"{mark}  [{section}] {name}"
        if info:
            line += f": {info}"
        print(line, flush=True)
        if not ok:
            for d in list(details)[:MAX_DETAILS]:
                print(f"        {d}", flush=True)
            if len(details) > MAX_DETAILS:
                print(f"        ... {len(details) - MAX_DETAILS} more", flush=True)

    def run(self, section, name, fn):
        """Runs `fn()` -> (ok, details, info); an exception is a failure."""
        try:
            ok, details, info = fn()
        except Exception as e:  # noqa: BLE001 - report, do not abort the other checks
            tb = traceback.format_exception_only(type(e), e)[-1].strip()
            ok, details, info = False, [tb], "raised"
        self.add(section, name, ok, details, info)

    def counts(self):
        passed = sum(1 for r in self.results if r[2])
        return passed, len(self.results) - passed


def same_float(a, b):
    """Exact float equality, NaN equals NaN, the sign of zero counts."""
    if a is None or b is None:
        return a is None and b is None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def sql_str(path):
    return "'" + str(path).replace("'", "''") + "'"


def convert(tfevents, logdir, out, *extra):
    cmd = [tfevents, "convert", logdir, "--out", out, *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stderr.strip()


def find_runs(logdir):
    """Run name -> directory, for every directory that directly holds event files."""
    runs = {}
    for root, _, files in os.walk(logdir):
        if any("tfevents" in f for f in files):
            rel = os.path.relpath(root, logdir).replace(os.sep, "/")
            runs[rel] = root
    return dict(sorted(runs.items()))


# --------------------------------------------------------------------------
# 1. pyarrow + pandas on the plain layout


def check_schema(table, name):
    want = SCHEMAS[name]
    got = [(f.name, f.type) for f in table.schema]
    details = []
    if [n for n, _ in got] != [n for n, _ in want]:
        details.append(f"columns {[n for n, _ in got]} != expected {[n for n, _ in want]}")
    got_types = dict(got)
    for col, typ in want:
        if col in got_types and not got_types[col].equals(typ):
            details.append(f"{col}: {got_types[col]} != expected {typ}")
    return not details, details, f"{table.num_rows} rows, {len(got)} columns"


def check_pandas(table, name):
    df = table.to_pandas()
    details = []
    if len(df) != table.num_rows:
        details.append(f"{len(df)} pandas rows != {table.num_rows}")
    for col, typ in SCHEMAS[name]:
        if pa.types.is_dictionary(typ) and col in ("run", "tag"):
            if not isinstance(df[col].dtype, pd.CategoricalDtype):
                details.append(f"{col}: pandas dtype {df[col].dtype}, expected category")
    cats = [c for c in ("run", "tag") if c in df.columns
            and isinstance(df[c].dtype, pd.CategoricalDtype)]
    return not details, details, f"{len(df)} rows" + (f", categorical {', '.join(cats)}"
                                                      if cats else "")


# --------------------------------------------------------------------------
# 3. partitioned layout


def run_counts(values):
    return collections.Counter(values)


def compare_runs(reader, got, want):
    """got/want: Counter run name -> rows. Returns details."""
    details = []
    if sum(got.values()) != sum(want.values()):
        details.append(f"{reader}: {sum(got.values())} rows != plain {sum(want.values())}")
    extra = sorted(set(got) - set(want), key=str)
    missing = sorted(set(want) - set(got), key=str)
    if extra or missing:
        undecoded = [r for r in extra if isinstance(r, str) and re.search(r"%[0-9A-Fa-f]{2}", r)]
        if undecoded:
            details.append(f"FINDING: {reader} does not decode percent-escaped partition "
                           f"values: got {undecoded!r}")
        details.append(f"{reader}: run names not in plain layout: {extra!r}; "
                       f"missing: {missing!r}")
    for r in sorted(set(got) & set(want), key=str):
        if got[r] != want[r]:
            details.append(f"{reader}: run {r!r}: {got[r]} rows != plain {want[r]}")
    return details


def duckdb_partition_runs(con, table_dir, run_type=None):
    opts = "hive_partitioning = true"
    if run_type:
        opts += f", hive_types = {{'run': '{run_type}'}}"
    q = (f"SELECT run, count(*) FROM read_parquet({sql_str(os.path.join(table_dir, '*', '*.parquet'))}, "
         f"{opts}) GROUP BY run")
    return collections.Counter({r: n for r, n in con.execute(q).fetchall()})


def pyarrow_partition_runs(table_dir, string_run=False):
    part = (ds.partitioning(pa.schema([("run", pa.string())]), flavor="hive")
            if string_run else "hive")
    t = ds.dataset(table_dir, format="parquet", partitioning=part).to_table()
    col = t.column("run")
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return run_counts(col.to_pylist()), t.schema.field("run").type


def check_partitioned_table(con, part_dir, name, plain_counts):
    table_dir = os.path.join(part_dir, name)
    if not plain_counts:
        # an empty table may be written either way; nothing to compare
        return True, [], "empty in plain layout"
    if not os.path.isdir(table_dir):
        return False, [f"{table_dir} is not a directory"], ""
    details = []
    parts = sorted(os.path.join(d, f) for d, _, fs in os.walk(table_dir) for f in fs
                   if f.endswith(".parquet"))
    with_run = [p for p in parts if "run" in pq.read_schema(p).names]
    if with_run:
        details.append(f"{len(with_run)} partition files hold a run column, e.g. {with_run[0]}")
    got_duck = duckdb_partition_runs(con, table_dir)
    details += compare_runs("DuckDB", got_duck, plain_counts)
    got_pa, pa_type = pyarrow_partition_runs(table_dir)
    details += compare_runs("pyarrow.dataset", got_pa, plain_counts)
    return (not details, details,
            f"{len(parts)} partitions, {sum(plain_counts.values())} rows, "
            f"{len(plain_counts)} runs (pyarrow run type {pa_type})")


def check_single_files(part_dir, plain_dir):
    details = []
    for name in ("runs", "files"):
        p = os.path.join(part_dir, f"{name}.parquet")
        if not os.path.isfile(p):
            details.append(f"{p} is not a single file")
            continue
        a = pq.read_table(p)
        b = pq.read_table(os.path.join(plain_dir, f"{name}.parquet"))
        if a.num_rows != b.num_rows:
            details.append(f"{name}: {a.num_rows} rows != plain {b.num_rows}")
    return not details, details, "runs.parquet, files.parquet"


def check_odd_names(tfevents, logdir, tmp, con):
    """Copies one fixture run under names that need escaping and reads them back."""
    src_run = next(iter(find_runs(logdir).values()))
    odd_logdir = os.path.join(tmp, "odd_logdir")
    for name in ODD_RUN_NAMES:
        d = os.path.join(odd_logdir, *name.split("/"))
        os.makedirs(d)
        for f in os.listdir(src_run):
            if "tfevents" in f and os.path.isfile(os.path.join(src_run, f)):
                shutil.copy(os.path.join(src_run, f), d)
    plain, part = os.path.join(tmp, "odd_plain"), os.path.join(tmp, "odd_part")
    convert(tfevents, odd_logdir, plain)
    convert(tfevents, odd_logdir, part, "--partition-by", "run")
    t = pq.read_table(os.path.join(plain, "scalars.parquet"))
    want = run_counts(t.column("run").cast(pa.string()).to_pylist())
    details = []
    if set(want) != set(ODD_RUN_NAMES):
        details.append(f"plain layout runs {sorted(want)} != {sorted(ODD_RUN_NAMES)}")
    table_dir = os.path.join(part, "scalars")
    details += compare_runs("DuckDB", duckdb_partition_runs(con, table_dir, "VARCHAR"), want)
    details += compare_runs("pyarrow.dataset", pyarrow_partition_runs(table_dir, True)[0], want)
    info = f"{len(ODD_RUN_NAMES)} names decoded by both readers (run declared a string)"
    notes = numeric_names_note(tfevents, src_run, tmp, con)
    if notes:
        info += "; note: " + "; ".join(notes)
    return not details, details, info


def numeric_names_note(tfevents, src_run, tmp, con):
    """What the readers make of run names that all look like numbers, types left inferred.

    Not a failure: the values are decoded, but their type is guessed by the reader.
    """
    logdir = os.path.join(tmp, "numeric_logdir")
    for name in NUMERIC_RUN_NAMES:
        d = os.path.join(logdir, name)
        os.makedirs(d)
        for f in os.listdir(src_run):
            if "tfevents" in f and os.path.isfile(os.path.join(src_run, f)):
                shutil.copy(os.path.join(src_run, f), d)
    part = os.path.join(tmp, "numeric_part")
    convert(tfevents, logdir, part, "--partition-by", "run")
    table_dir = os.path.join(part, "scalars")
    notes = []
    got = sorted(duckdb_partition_runs(con, table_dir), key=str)
    if got != sorted(NUMERIC_RUN_NAMES):
        notes.append(f"DuckDB infers runs {NUMERIC_RUN_NAMES} as {got!r} "
                     "(hive_types = {'run': 'VARCHAR'} keeps them)")
    got, typ = pyarrow_partition_runs(table_dir)
    if sorted(got, key=str) != sorted(NUMERIC_RUN_NAMES):
        notes.append(f"pyarrow.dataset infers them as {typ} {sorted(got, key=str)!r} "
                     "(an explicit string partitioning schema keeps them)")
    return notes


# --------------------------------------------------------------------------
# 4. values against EventAccumulator


def load_ea(run_dir):
    acc = ea.EventAccumulator(run_dir, size_guidance={k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE})
    acc.Reload()
    return acc


def tensor_plugin(acc, tag):
    md = acc.summary_metadata.get(tag)
    return md.plugin_data.plugin_name if md is not None else ""


def ea_scalars(acc):
    """tag -> (source, [(step, wall_time, value, dtype)]) in EventAccumulator order."""
    out = {}
    tags = acc.Tags()
    for tag in tags[ea.SCALARS]:
        out[tag] = ("Scalars", [(e.step, e.wall_time, e.value, "float32")
                                for e in acc.Scalars(tag)])
    for tag in tags[ea.TENSORS]:
        if tensor_plugin(acc, tag) != "scalars":
            continue
        items = []
        for e in acc.Tensors(tag):
            arr = tensor_util.make_ndarray(e.tensor_proto)
            items.append((e.step, e.wall_time, float(arr.reshape(-1)[0]),
                          dtypes.as_dtype(e.tensor_proto.dtype).name))
        if tag in out:
            out[tag] = ("Scalars+Tensors", out[tag][1] + items)
        else:
            out[tag] = ("Tensors", items)
    return out


def ea_images(acc):
    """tag -> (source, [(step, wall_time, index, width, height, sha256)])."""
    out = {}
    tags = acc.Tags()
    for tag in tags[ea.IMAGES]:
        out[tag] = ("Images", [(e.step, e.wall_time, 0, e.width, e.height,
                                hashlib.sha256(e.encoded_image_string).hexdigest())
                               for e in acc.Images(tag)])
    for tag in tags[ea.TENSORS]:
        if tensor_plugin(acc, tag) != "images":
            continue
        items = []
        for e in acc.Tensors(tag):
            arr = tensor_util.make_ndarray(e.tensor_proto).reshape(-1)
            w, h = int(arr[0]), int(arr[1])
            for i, img in enumerate(arr[2:]):
                items.append((e.step, e.wall_time, i, w, h, hashlib.sha256(img).hexdigest()))
        out[tag] = ("Tensors", items)
    return out


def compare_rows(tag, want, got, eq):
    """Pairs EventAccumulator items with table rows sorted by (step, wall_time[, index])."""
    details = []
    want = sorted(want, key=lambda r: (r[0], r[1]) + tuple(r[2:3]))
    got = sorted(got, key=lambda r: (r[0], r[1]) + tuple(r[2:3]))
    if len(want) != len(got):
        details.append(f"{tag}: EventAccumulator has {len(want)} values, table {len(got)}")
    for w, g in zip(want, got):
        bad = eq(w, g)
        if bad:
            details.append(f"{tag} step {w[0]}: {bad}: EA {w!r} != table {g!r}")
    return details


def scalar_diff(w, g):
    if w[0] != g[0]:
        return "step"
    if not same_float(w[1], g[1]):
        return "wall_time"
    if not same_float(w[2], g[2]):
        return "value"
    if w[3] != g[3]:
        return "dtype"
    return None


def image_diff(w, g):
    names = ("step", "wall_time", "index", "width", "height", "sha256")
    for n, a, b in zip(names, w, g):
        if (not same_float(a, b)) if n == "wall_time" else a != b:
            return n
    return None


def check_values(kind, run, acc, rows, ea_fn, row_fn, diff):
    """rows: table rows of this run (dicts). Returns (ok, details, info)."""
    expected = ea_fn(acc)
    by_tag = collections.defaultdict(list)
    for r in rows:
        by_tag[r["tag"]].append(r)
    details = []
    compared = superseded = kept_by_ea = 0
    for tag in sorted(set(expected) | set(by_tag)):
        trows = by_tag.get(tag, [])
        if tag not in expected:
            details.append(f"{tag}: {len(trows)} table rows, unknown to EventAccumulator")
            continue
        source, want = expected[tag]
        sup = [r for r in trows if r["superseded"]]
        superseded += len(sup)
        if source == "Scalars" or source == "Images":
            # EventAccumulator purges orphaned values from these stores.
            got = [row_fn(r) for r in trows if not r["superseded"]]
        else:
            # Its tensor store is not purged: superseded values stay visible there.
            got = [row_fn(r) for r in trows]
            kept_by_ea += len(sup)
        details += compare_rows(tag, want, got, diff)
        compared += len(want)
    info = f"{compared} values, {len(expected)} tags"
    if superseded:
        info += f", {superseded} superseded"
        if kept_by_ea:
            info += f" ({kept_by_ea} of them kept by EA's unpurged tensor store)"
        else:
            info += " = purged by EA"
    return not details, details, info


# --------------------------------------------------------------------------
# 5. README queries


SQL_BLOCK = re.compile(r"^[ \t]*```sql[ \t]*\n(.*?)^[ \t]*```", re.M | re.S)


def readme_sql(readme):
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    return [m.group(1) for m in SQL_BLOCK.finditer(text)], text


def substitute_paths(sql, plain_dir, part_dir):
    def repl(m):
        rest = m.group(1)
        base = part_dir if "/" in rest else plain_dir
        return base.rstrip("/") + "/" + rest
    return re.sub(r"(?<![\w./-])tables/([^'\"\s]*)", repl, sql)


def readme_line(text, block):
    return text[:text.find(block)].count("\n") + 1


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tfevents", required=True, help="path of the tfevents binary")
    ap.add_argument("--logdir", required=True, help="undamaged fixture logdir")
    ap.add_argument("--readme", required=True, help="README whose ```sql blocks are run")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = ap.parse_args()
    logging.getLogger("tensorboard").setLevel(logging.ERROR)

    checks = Checks()
    tmp = tempfile.mkdtemp(prefix="tfevents-parquet-")
    plain, part = os.path.join(tmp, "plain"), os.path.join(tmp, "partitioned")
    try:
        for out, extra, label in ((plain, (), "plain"),
                                  (part, ("--partition-by", "run"), "partition-by run")):
            checks.run("convert", label, lambda out=out, extra=extra:
                       (True, [], convert(args.tfevents, args.logdir, out, *extra)))

        # 1. pyarrow schemas and pandas
        tables = {}
        for name in TABLES:
            path = os.path.join(plain, f"{name}.parquet")

            def read(path=path, name=name):
                tables[name] = pq.read_table(path)
                return check_schema(tables[name], name)
            checks.run("pyarrow schema", name, read)
        for name, t in tables.items():
            checks.run("pandas", name, lambda t=t, name=name: check_pandas(t, name))

        # 2. DuckDB counts
        con = duckdb.connect()
        for name, t in tables.items():
            def count(name=name, t=t):
                n = con.execute(
                    f"SELECT count(*) FROM {sql_str(os.path.join(plain, name + '.parquet'))}"
                ).fetchone()[0]
                return n == t.num_rows, [f"DuckDB {n} != pyarrow {t.num_rows}"], f"{n} rows"
            checks.run("duckdb count", name, count)

        # 3. partitioned layout
        for name in VALUE_TABLES:
            if name not in tables:
                continue
            plain_counts = run_counts(tables[name].column("run").cast(pa.string()).to_pylist())
            checks.run("partitioned", name, lambda name=name, c=plain_counts:
                       check_partitioned_table(con, part, name, c))
        checks.run("partitioned", "runs/files stay single files",
                   lambda: check_single_files(part, plain))
        checks.run("partitioned", "run names needing escapes",
                   lambda: check_odd_names(args.tfevents, args.logdir, tmp, con))

        # 4. values against EventAccumulator
        def rows_of(name):
            if name not in tables:
                return collections.defaultdict(list)
            cols = {"scalars": ["run", "tag", "step", "wall_time", "value", "dtype",
                                "superseded"],
                    "images": ["run", "tag", "step", "wall_time", "index", "width",
                               "height", "data", "superseded"]}[name]
            out = collections.defaultdict(list)
            for r in tables[name].select(cols).to_pylist():
                out[r["run"]].append(r)
            return out
        scalar_rows, image_rows = rows_of("scalars"), rows_of("images")
        runs = find_runs(args.logdir)
        for extra in sorted(set(scalar_rows) - set(runs)):
            checks.add("values", f"scalars {extra}", False, ["run not found in the logdir"])
        for run, run_dir in runs.items():
            acc = load_ea(run_dir)
            checks.run("EA scalars", run, lambda run=run, acc=acc: check_values(
                "scalars", run, acc, scalar_rows.get(run, []), ea_scalars,
                lambda r: (r["step"], r["wall_time"], r["value"], r["dtype"]), scalar_diff))
            checks.run("EA images", run, lambda run=run, acc=acc: check_values(
                "images", run, acc, image_rows.get(run, []), ea_images,
                lambda r: (r["step"], r["wall_time"], r["index"], r["width"], r["height"],
                           hashlib.sha256(r["data"]).hexdigest()), image_diff))

        # 5. README queries
        blocks, text = readme_sql(args.readme)
        if not blocks:
            checks.add("readme sql", args.readme, False,
                       [f"no ```sql block in {args.readme}; expected at least one "
                        "(under a Parquet heading) querying 'tables/<table>.parquet'"])
        for block in blocks:
            line = readme_line(text, block)

            def run_block(block=block):
                sql = substitute_paths(block, plain, part)
                rows = duckdb.connect().execute(sql).fetchall()
                first = repr(rows[0]) if rows else ""
                if len(first) > 80:
                    first = first[:80] + "..."
                return (len(rows) > 0, ["query returned no rows"],
                        f"{len(rows)} rows" + (f", first {first}" if rows else ""))
            checks.run("readme sql", f"{args.readme}:{line}", run_block)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    passed, failed = checks.counts()
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
