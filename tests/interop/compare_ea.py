#!/usr/bin/env python3
"""Compare `tfevents dump` with TensorBoard's EventAccumulator, value for value.

    python tests/interop/compare_ea.py --tfevents target/release/tfevents --logdir fixtures/logdir

Every directory under the logdir that directly holds event files is a run. Each run is
loaded with `EventAccumulator` (nothing sampled away) and `tfevents dump LOGDIR` is run
once. Values are paired by (run, tag, step, index) in file order and every field that
TensorBoard exposes is compared exactly: wall times, floats (NaN equals NaN, the sign of
zero counts), integers, strings, lengths and SHA-256 of encoded images and audio.

Superseded rows (a later SessionLog START at a step <= theirs) are expected to be absent
from what EventAccumulator keeps; every other dump row must have an EventAccumulator
counterpart and every EventAccumulator value a dump row.

Where EventAccumulator cannot supply a field, the field is checked another way or left out:
- TF1 images: EventAccumulator's ImageEvent has no colorspace; colorspace is not compared.
- Audio: AudioEvent has no channel count, and TF2 audio tensors hold only WAV bytes and
  labels, so channels (and for TF2 sample rate and frames) are read from the WAV header
  of the clip EventAccumulator returns, with Python's `wave` module (left out for a clip
  that module cannot read).
- TF1 scalars: `simple_value` is a proto float, so their dtype is taken to be float32.
- TF1 histograms: bucket_left is checked against the dump's documented convention
  (left[i] = bucket_limit[i-1], left[0] = min(min, bucket_limit[0])).
- hparams written as metadata only (tensorboardX): EventAccumulator keeps only their
  plugin content, so step and wall time are not compared for them.
No float comparison is relaxed: every value here reaches both readers without conversion.
blob, session_log and log_message rows are counted but not compared.

Prints a per-run, per-kind table and ends with `N passed, M failed`, where N counts
compared values that matched and M counts mismatches plus values missing on either side.
Exits 0 only when M is 0. Needs tensorboard (see requirements.txt), not tensorflow.
"""

import argparse
import collections
import hashlib
import io
import json
import logging
import math
import os
import subprocess
import sys
import wave

from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.compat.tensorflow_stub import dtypes
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from tensorboard.util import tensor_util

COMPARED = ("scalar", "histogram", "image", "audio", "text", "pr_curve", "tensor", "hparams")
NOT_COMPARED = ("blob", "session_log", "log_message")
NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
MAX_DETAILS = 60

# EventAccumulator purges superseded events from these stores on a SessionLog START, but
# not from its tensor store (`accumulated_attrs` leaves out "tensors"), so values read
# from TF2 plugin tensors stay visible in EventAccumulator even when superseded.
PURGING_SOURCES = {"Scalars", "Histograms", "Images", "Audio"}


# --------------------------------------------------------------------------
# comparison of JSON-like values


def _num(x):
    """A dump number: floats as they are, "nan"/"inf"/"-inf" as floats, else None."""
    if isinstance(x, float):
        return x
    if isinstance(x, str) and x in NONFINITE:
        return NONFINITE[x]
    return None


def same(expected, got):
    """`expected` comes from EventAccumulator, `got` from the dump. Exact, NaN == NaN."""
    if expected is None:
        return got is None
    if isinstance(expected, bool):
        return isinstance(got, bool) and got == expected
    if isinstance(expected, int):
        return isinstance(got, int) and not isinstance(got, bool) and got == expected
    if isinstance(expected, float):
        g = _num(got)
        if g is None:
            return False
        if math.isnan(expected):
            return math.isnan(g)
        return g == expected and math.copysign(1.0, g) == math.copysign(1.0, expected)
    if isinstance(expected, str):
        return isinstance(got, str) and got == expected
    if isinstance(expected, (list, tuple)):
        return (isinstance(got, list) and len(got) == len(expected)
                and all(same(e, g) for e, g in zip(expected, got)))
    if isinstance(expected, dict):
        return (isinstance(got, dict) and set(got) == set(expected)
                and all(same(v, got[k]) for k, v in expected.items()))
    raise TypeError(f"cannot compare {type(expected)}")


def short(x, n=120):
    s = json.dumps(x, ensure_ascii=False, default=str)
    return s if len(s) <= n else s[:n] + "..."


# --------------------------------------------------------------------------
# EventAccumulator side: every value as a dict with the dump's field names


def utf8(b):
    return b.decode("utf-8", errors="replace")


def image_format(data):
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"GIF8"):
        return "gif"
    return "unknown"


def wav_facts(data):
    """(sample_rate, channels, frames) from a WAV header via the stdlib, or None."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            return float(w.getframerate()), w.getnchannels(), w.getnframes()
    except (wave.Error, EOFError, ValueError):
        return None


def encoded(data):
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def proto_value(v):
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        return v.number_value
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "list_value":
        return [proto_value(x) for x in v.list_value.values]
    if kind == "struct_value":
        return {k: proto_value(x) for k, x in v.struct_value.fields.items()}
    return None


def hparams_fields(content):
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    which = data.WhichOneof("data")
    if which == "experiment":
        e = data.experiment
        infos = []
        for h in e.hparam_infos:
            dom = h.WhichOneof("domain")
            if dom == "domain_discrete":
                domain = [proto_value(v) for v in h.domain_discrete.values]
            elif dom == "domain_interval":
                domain = {"min": h.domain_interval.min_value, "max": h.domain_interval.max_value}
            else:
                domain = None
            infos.append({"name": h.name, "display_name": h.display_name,
                          "type": api_pb2.DataType.Name(h.type), "domain": domain})
        metrics = [{"group": m.name.group, "tag": m.name.tag, "display_name": m.display_name}
                   for m in e.metric_infos]
        return {"hparams_kind": "experiment", "name": e.name, "description": e.description,
                "time_created_secs": e.time_created_secs, "hparams": infos, "metrics": metrics}
    if which == "session_start_info":
        s = data.session_start_info
        return {"hparams_kind": "session_start",
                "hparams": {k: proto_value(v) for k, v in s.hparams.items()},
                "group_name": s.group_name, "start_time_secs": s.start_time_secs}
    if which == "session_end_info":
        s = data.session_end_info
        status = api_pb2.Status.Name(s.status)
        return {"hparams_kind": "session_end", "status": status.replace("STATUS_", "", 1),
                "end_time_secs": s.end_time_secs}
    return {"hparams_kind": None}


def tensor_items(plugin, tp, acc, tag):
    """Fields for the value(s) in one TF2 plugin tensor, read as TensorBoard's plugins do."""
    arr = tensor_util.make_ndarray(tp)
    dtype = dtypes.as_dtype(tp.dtype).name
    shape = list(arr.shape)
    is_str = dtype == "string"
    numeric = not is_str and arr.dtype.kind in "biuf"
    if plugin == "scalars" and numeric and arr.size == 1:
        return [{"kind": "scalar", "value": float(arr.reshape(-1)[0]), "dtype": dtype}]
    if plugin == "histograms" and numeric and len(shape) == 2 and shape[1] == 3:
        rows = arr.astype(float).tolist()
        return [{"kind": "histogram", "min": None, "max": None, "num": None, "sum": None,
                 "sum_squares": None, "bucket_left": [r[0] for r in rows],
                 "bucket_right": [r[1] for r in rows], "bucket_count": [r[2] for r in rows]}]
    if plugin == "histograms" and numeric and shape == [0]:
        return [{"kind": "histogram", "min": None, "max": None, "num": None, "sum": None,
                 "sum_squares": None, "bucket_left": [], "bucket_right": [], "bucket_count": []}]
    if plugin == "images" and is_str and len(shape) == 1 and shape[0] >= 2:
        w, h = int(arr[0]), int(arr[1])
        return [dict(kind="image", index=i, width=w, height=h, colorspace=None,
                     format=image_format(img), **encoded(img))
                for i, img in enumerate(arr[2:])]
    if plugin == "audio" and is_str and len(shape) in (1, 2):
        rows = arr.reshape(shape[0], -1) if arr.size else arr.reshape(0, 1)
        out = []
        for i, row in enumerate(rows):
            item = dict(kind="audio", index=i, content_type=None,
                        label=utf8(row[1]) if len(row) > 1 else None, **encoded(row[0]))
            facts = wav_facts(row[0])
            if facts is not None:
                item["sample_rate"], item["channels"], item["frames"] = facts
            out.append(item)
        return out
    if plugin == "text" and is_str:
        texts = [utf8(b) for b in arr.reshape(-1)]
        return [{"kind": "text", "shape": shape,
                 "text": texts[0] if len(texts) == 1 else texts}]
    if plugin == "pr_curves" and numeric and len(shape) == 2 and shape[0] == 6:
        rows = arr.astype(float).tolist()
        return [dict(kind="pr_curve", num_thresholds=shape[1],
                     **dict(zip(("tp", "fp", "tn", "fn", "precision", "recall"), rows)))]
    if plugin == "hparams":
        return [dict(kind="hparams", **hparams_fields(acc.PluginTagToContent("hparams")[tag]))]
    flat = arr.reshape(-1)
    if is_str:
        values = [utf8(b) for b in flat]
    elif arr.dtype.kind == "c":
        values = [[float(v.real), float(v.imag)] for v in flat]
    elif arr.dtype.kind in "biu":
        values = [int(v) for v in flat]
    else:
        values = [float(v) for v in flat]
    return [{"kind": "tensor", "plugin": plugin, "dtype": dtype, "shape": shape,
             "values": values}]


def ea_values(run_dir):
    """Every value EventAccumulator keeps for one run, in file order per tag."""
    acc = ea.EventAccumulator(run_dir, size_guidance={k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE})
    acc.Reload()
    tags = acc.Tags()
    out = []

    def add(source, tag, e, fields, index=0):
        out.append(dict(fields, tag=tag, step=e.step, wall_time=e.wall_time, index=index,
                        _source=source))

    for tag in tags[ea.SCALARS]:
        for e in acc.Scalars(tag):
            add("Scalars", tag, e, {"kind": "scalar", "value": e.value, "dtype": "float32"})
    for tag in tags[ea.HISTOGRAMS]:
        for e in acc.Histograms(tag):
            h = e.histogram_value
            limit = list(h.bucket_limit)
            # Documented convention of the dump: left[i] = bucket_limit[i-1] and left[0] is
            # the smaller of min and bucket_limit[0].
            left = ([limit[0] if math.isnan(h.min) else min(h.min, limit[0])] + limit[:-1]
                    if limit else [])
            add("Histograms", tag, e, {
                "kind": "histogram", "min": h.min, "max": h.max, "num": h.num, "sum": h.sum,
                "sum_squares": h.sum_squares, "bucket_left": left, "bucket_right": limit,
                "bucket_count": list(h.bucket)})
    for tag in tags[ea.IMAGES]:
        for e in acc.Images(tag):
            # EventAccumulator's ImageEvent has no colorspace, so it is not compared here.
            add("Images", tag, e, dict(kind="image", width=e.width, height=e.height,
                                       format=image_format(e.encoded_image_string),
                                       **encoded(e.encoded_image_string)))
    for tag in tags[ea.AUDIO]:
        for e in acc.Audio(tag):
            item = dict(kind="audio", sample_rate=e.sample_rate, frames=e.length_frames,
                        content_type=e.content_type, label=None,
                        **encoded(e.encoded_audio_string))
            # AudioEvent has no num_channels: the channel count is checked against the WAV
            # header of the clip EventAccumulator returns.
            facts = wav_facts(e.encoded_audio_string)
            if facts is not None:
                item["channels"] = facts[1]
            add("Audio", tag, e, item)
    for tag in tags[ea.TENSORS]:
        md = acc.summary_metadata.get(tag)
        plugin = md.plugin_data.plugin_name if md is not None else ""
        for e in acc.Tensors(tag):
            for fields in tensor_items(plugin, e.tensor_proto, acc, tag):
                index = fields.pop("index", 0)
                add("Tensors", tag, e, fields, index)
    # hparams summaries written as metadata only (tensorboardX) have no value for any store;
    # EventAccumulator keeps just their metadata, so their step and wall time are unknown
    # to it and only the content is compared.
    try:
        hparams_content = acc.PluginTagToContent("hparams")
    except KeyError:  # no hparams in this run
        hparams_content = {}
    for tag, content in hparams_content.items():
        if tag not in tags[ea.TENSORS]:
            out.append(dict(hparams_fields(content), kind="hparams", tag=tag, step=None,
                            wall_time=None, index=0, _source="metadata"))
    return out


# --------------------------------------------------------------------------
# pairing and reporting


def find_runs(logdir):
    runs = set()
    for root, _, files in os.walk(logdir):
        if any("tfevents" in f for f in files):
            runs.add(os.path.relpath(root, logdir).replace(os.sep, "/"))
    return sorted(runs)


def compare_pair(ea_item, row):
    diffs = []
    for key, want in ea_item.items():
        if key.startswith("_") or key == "index":
            continue  # index is part of the pairing key
        if ea_item["_source"] == "metadata" and key in ("step", "wall_time"):
            continue  # unknown to EventAccumulator (see ea_values)
        if key not in row:
            diffs.append(f"{key}: missing in dump (EA {short(want)})")
        elif not same(want, row[key]):
            diffs.append(f"{key}: EA {short(want)} != dump {short(row[key])}")
    return diffs


def align(items, rows):
    """Pairs EventAccumulator values with dump rows of the same (tag, step, index).

    Normally both lists have the same length and pair in file order. Otherwise values
    with the same wall time are paired first, so that the leftovers reported as missing
    are the right ones. Returns (pairs, EA values left over, dump rows left over).
    """
    if len(items) == len(rows):
        return list(zip(items, rows)), [], []
    pairs, rest = [], list(rows)
    unpaired = []
    for it in items:
        hit = next((r for r in rest if same(it["wall_time"], r["wall_time"])), None) \
            if it["wall_time"] is not None else None
        if hit is None:
            unpaired.append(it)
        else:
            rest.remove(hit)
            pairs.append((it, hit))
    n = min(len(unpaired), len(rest))
    pairs += list(zip(unpaired[:n], rest[:n]))
    return pairs, unpaired[n:], rest[n:]


class Stats:
    def __init__(self):
        self.table = collections.defaultdict(collections.Counter)
        self.details = []

    def note(self, run, kind, what, n=1):
        self.table[(run, kind)][what] += n

    def fail(self, msg):
        self.details.append(msg)


def compare_run(run, rows, items, stats):
    by_tag_rows = collections.defaultdict(list)
    for r in rows:
        if r["kind"] in COMPARED:
            by_tag_rows[r["tag"]].append(r)
        else:
            stats.note(run, r["kind"], "not_compared")
    by_tag_items = collections.defaultdict(list)
    for it in items:
        by_tag_items[it["tag"]].append(it)

    for tag in sorted(set(by_tag_rows) | set(by_tag_items)):
        trows, titems = by_tag_rows.get(tag, []), by_tag_items.get(tag, [])
        if titems and all(it["step"] is None for it in titems):
            # metadata-only hparams: pair in order, by tag alone
            groups = {None: (titems, trows, [])}
        else:
            groups = collections.OrderedDict()
            for it in titems:
                groups.setdefault((it["step"], it["index"]), ([], [], []))[0].append(it)
            for r in trows:
                g = groups.setdefault((r["step"], r.get("index", 0)), ([], [], []))
                (g[2] if r["superseded"] else g[1]).append(r)
        for key, (gi, live, superseded) in groups.items():
            if key is None:
                expect = live + superseded
            elif any(it["_source"] not in PURGING_SOURCES for it in gi):
                # tensor store: EventAccumulator keeps superseded values too
                expect = sorted(live + superseded, key=lambda r: r["_line"])
                for r in superseded:
                    stats.note(run, r["kind"], "superseded_kept_by_ea")
            else:
                expect = live
                for r in superseded:
                    stats.note(run, r["kind"], "superseded_absent")
            pairs, ea_left, dump_left = align(gi, expect)
            for it, r in pairs:
                diffs = compare_pair(it, r)
                kind = r["kind"]
                if diffs:
                    stats.note(run, kind, "mismatch")
                    for d in diffs:
                        stats.fail(f"{run} {tag!r} step {r['step']} #{r.get('index', 0)} "
                                   f"({kind}): {d}")
                else:
                    stats.note(run, kind, "pass")
            for it in ea_left:
                stats.note(run, it["kind"], "ea_only")
                stats.fail(f"{run} {tag!r} step {it['step']} #{it['index']} ({it['kind']}): "
                           f"EventAccumulator has it, dump has no row")
            for r in dump_left:
                stats.note(run, r["kind"], "dump_only")
                stats.fail(f"{run} {tag!r} step {r['step']} #{r.get('index', 0)} ({r['kind']}): "
                           f"dump row{' (superseded)' if r['superseded'] else ''} "
                           f"has no EventAccumulator counterpart")
    for r in rows:
        stats.note(run, r["kind"], "dump_rows")
        if r["superseded"]:
            stats.note(run, r["kind"], "dump_superseded")
    for it in items:
        stats.note(run, it["kind"], "ea_values")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tfevents", required=True, help="path to the tfevents binary")
    ap.add_argument("--logdir", required=True, help="TensorBoard log directory")
    args = ap.parse_args()
    logging.getLogger("tensorboard").setLevel(logging.ERROR)

    proc = subprocess.run([args.tfevents, "dump", args.logdir], capture_output=True)
    if proc.stderr.strip():
        print("tfevents dump stderr:\n" + proc.stderr.decode("utf-8", "replace").rstrip())
    if proc.returncode != 0:
        print(f"tfevents dump exited with {proc.returncode}")
        print("0 passed, 1 failed")
        return 1
    dump_rows = collections.defaultdict(list)
    for n, line in enumerate(proc.stdout.decode("utf-8").splitlines()):
        if line.strip():
            row = json.loads(line)
            row["_line"] = n
            dump_rows[row["run"]].append(row)

    stats = Stats()
    runs = find_runs(args.logdir)
    extra_runs = sorted(set(dump_rows) - set(runs))
    for run in extra_runs:
        stats.fail(f"dump lists run {run!r}, which holds no event files")
        stats.note(run, "-", "dump_only", len(dump_rows[run]))
    for run in runs:
        items = ea_values(os.path.normpath(os.path.join(args.logdir, run)))
        compare_run(run, dump_rows.get(run, []), items, stats)

    cols = [("dump_rows", "dump"), ("dump_superseded", "supersd"), ("ea_values", "EA"),
            ("pass", "pass"), ("mismatch", "mismatch"), ("dump_only", "dump-only"),
            ("ea_only", "EA-only")]
    width = max([len(r) for r, _ in stats.table] + [3])
    print(f"{'run':<{width}}  {'kind':<11} " + " ".join(f"{h:>9}" for _, h in cols) + "  note")
    for (run, kind), c in sorted(stats.table.items()):
        notes = []
        if kind in NOT_COMPARED:
            notes.append("not compared")
        if c["superseded_absent"]:
            notes.append(f"{c['superseded_absent']} superseded, absent from EA as expected")
        if c["superseded_kept_by_ea"]:
            notes.append(f"{c['superseded_kept_by_ea']} superseded, kept in EA's tensor store")
        print(f"{run:<{width}}  {kind:<11} " + " ".join(f"{c[k]:>9}" for k, _ in cols)
              + (f"  {'; '.join(notes)}" if notes else ""))
    kinds = collections.Counter()
    for (_, kind), c in stats.table.items():
        kinds[kind] += c["pass"]
    print("matched per kind: " + ", ".join(f"{k} {kinds[k]}" for k in COMPARED if kinds[k]))

    if stats.details:
        print(f"\n{len(stats.details)} difference(s):")
        for d in stats.details[:MAX_DETAILS]:
            print("  " + d)
        if len(stats.details) > MAX_DETAILS:
            print(f"  ... and {len(stats.details) - MAX_DETAILS} more")
    passed = sum(c["pass"] for c in stats.table.values())
    failed = sum(c["mismatch"] + c["dump_only"] + c["ea_only"] for c in stats.table.values())
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
