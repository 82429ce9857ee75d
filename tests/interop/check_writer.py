#!/usr/bin/env python3
"""Check that event files written by tfevents load in Python TensorBoard as written.

    python tests/interop/check_writer.py --tfevents target/release/tfevents \
        --logdir target/interop-writer

LOGDIR holds what the writer made before this script runs (see tests/all.sh): `sweep/`
from `examples/train.rs`, `every_kind/` and `resume/` from tests/writer.rs. Value-for-value
agreement of those files with `tfevents dump` is compare_ea.py's job; this script checks
what a TensorBoard user sees:

1. `tfevents log` with values chosen here: EventAccumulator returns exactly those steps,
   wall times and float32-rounded values (NaN and infinities included).
2. The sweep: every run's images decode with Pillow to the size stored; its PR curve has
   shape [6, 127]; run.json's config equals the hparams session start read through
   TensorBoard's own protos; artifacts.json's hashes match the copied files.
3. A real TensorBoard server (`tensorboard --logdir sweep --load_fast=false`) lists the
   HParams tab, returns the experiment (config fields and the declared metrics) and one
   session group per run with its learning rate, status SUCCESS, and the last
   val/accuracy that EventAccumulator reads.
4. `tensorboard --inspect --logdir sweep` lists the runs' tags.
5. The README's `sql sweep` query, run in DuckDB on the converted sweep, returns the runs (and
   learning rates and accuracies) that `tfevents runs --filter` returns for the same question,
   in the same order.

Prints PASS/FAIL lines and `N passed, M failed`; exits 0 only when M is 0.
"""

import argparse
import hashlib
import io
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

RESULTS = {"pass": 0, "fail": 0}


def check(ok, what):
    RESULTS["pass" if ok else "fail"] += 1
    print(("PASS  " if ok else "FAIL  ") + what)
    return ok


def load(run_dir):
    acc = ea.EventAccumulator(run_dir, size_guidance={k: 0 for k in (
        ea.SCALARS, ea.IMAGES, ea.AUDIO, ea.HISTOGRAMS, ea.TENSORS, ea.COMPRESSED_HISTOGRAMS)})
    acc.Reload()
    return acc


def same_float(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def check_cli_log(tfevents, root):
    run = os.path.join(root, "cli")
    shutil.rmtree(run, ignore_errors=True)
    values = [(0, "loss", 1.0), (0, "acc", 0.1), (1, "loss", 0.3333333333), (2, "loss", 1e-30),
              (3, "loss", float("nan")), (4, "loss", float("inf")), (-2, "acc", -1e20)]
    for i, (step, tag, v) in enumerate(values):
        subprocess.run([tfevents, "log", "--logdir", run, "--step", str(step),
                        "--wall-time", str(1_700_000_000 + i * 0.25), f"{tag}={v!r}"], check=True)
    lines = "".join(f"{s} loss={v!r}\n" for s, v in [(10, 0.5), (11, 0.25)])
    subprocess.run([tfevents, "log", "--logdir", run, "--stdin"], input=lines.encode(), check=True)
    acc = load(run)
    for tag in ("loss", "acc"):
        want = [(s, np.float32(v).item()) for s, t, v in values if t == tag]
        want_times = [1_700_000_000 + i * 0.25 for i, (_, t, _) in enumerate(values) if t == tag]
        if tag == "loss":
            want += [(10, 0.5), (11, 0.25)]
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        ok = len(got) == len(want) and all(
            gs == ws and same_float(gv, wv) for (gs, gv), (ws, wv) in zip(got, want))
        check(ok, f"[log] {tag}: EventAccumulator reads {got} (expected {want})")
        times = [e.wall_time for e in acc.Scalars(tag)][: len(want_times)]
        check(times == want_times, f"[log] {tag}: wall times {times}")
    files = [f for f in os.listdir(run) if "tfevents" in f]
    check(len(files) == 1, f"[log] 9 calls appended to one file: {files}")


def session_start(acc):
    content = acc.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    out = {}
    for name, v in data.session_start_info.hparams.items():
        out[name] = getattr(v, v.WhichOneof("kind"))
    return out


def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, name + "."))
        elif isinstance(v, bool):
            out[name] = v
        elif isinstance(v, (int, float)):
            out[name] = float(v)
        else:
            out[name] = v
    return out


def check_sweep(sweep):
    runs = sorted(d for d in os.listdir(sweep) if os.path.isdir(os.path.join(sweep, d)))
    check(runs == ["lr=0.01", "lr=0.1", "lr=1"], f"[sweep] runs {runs}")
    last_acc = {}
    for run in runs:
        d = os.path.join(sweep, run)
        acc = load(d)
        tags = acc.Tags()
        check(set(tags["scalars"]) == {"train/loss", "val/loss", "val/accuracy"},
              f"[sweep] {run}: scalar tags {sorted(tags['scalars'])}")
        loss = acc.Scalars("train/loss")
        check([e.step for e in loss] == list(range(1, 301)), f"[sweep] {run}: train/loss at steps 1..300")
        last_acc[run] = acc.Scalars("val/accuracy")[-1].value
        hist = acc.Histograms("weights")
        check(len(hist) == 12 and all(h.histogram_value.num == 16 for h in hist),
              f"[sweep] {run}: 12 weight histograms of 16 values")
        for im in acc.Images("prediction"):
            pic = Image.open(io.BytesIO(im.encoded_image_string))
            pic.load()
            check(pic.size == (im.width, im.height) == (96, 96) and pic.mode == "RGB",
                  f"[sweep] {run}: prediction image at step {im.step} decodes, {pic.size} {pic.mode}")
        pr = tensor_util.make_ndarray(acc.Tensors("val/pr")[0].tensor_proto)
        check(pr.shape == (6, 127) and pr[0, 0] + pr[3, 0] > 0,
              f"[sweep] {run}: PR curve shape {pr.shape}")
        sidecar = json.load(open(os.path.join(d, "run.json")))
        hparams = session_start(acc)
        config = flatten(sidecar["config"])
        ok = all(hparams.get(k) == v for k, v in config.items())
        check(ok, f"[sweep] {run}: hparams session start holds run.json's config ({len(config)} fields)")
        check(hparams.get("env.git_commit") == sidecar["environment"]["git_commit"]
              and hparams.get("env.hostname") == sidecar["environment"]["hostname"],
              f"[sweep] {run}: environment in hparams and run.json agree")
        text = tensor_util.make_ndarray(acc.Tensors("environment")[0].tensor_proto)
        check(b"git commit" in text.item(), f"[sweep] {run}: environment text")
        check(sidecar["status"] == "SUCCESS", f"[sweep] {run}: run.json status {sidecar['status']}")
        for a in json.load(open(os.path.join(d, "artifacts.json"))):
            data = open(os.path.join(d, a["path"]), "rb").read()
            check(hashlib.sha256(data).hexdigest() == a["sha256"] and len(data) == a["size"],
                  f"[sweep] {run}: artifact {a['path']} matches its hash and size")
    return last_acc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def check_server(tensorboard, sweep, last_acc):
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([tensorboard, "--logdir", sweep, "--port", str(port), "--host", "127.0.0.1",
                             "--load_fast=false", "--reload_interval", "0"], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        plugins = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(base + "/data/plugins_listing", timeout=5) as r:
                    plugins = json.load(r)
                if plugins.get("hparams", {}).get("enabled"):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        if not check(bool(plugins and plugins.get("hparams", {}).get("enabled")),
                     "[server] TensorBoard lists the HParams tab as active"):
            log.seek(0)
            print(log.read().decode(errors="replace")[-3000:])
            return
        exp = post(base + "/data/plugin/hparams/experiment", {"experimentName": ""})
        names = {h["name"] for h in exp.get("hparamInfos", [])}
        check({"lr", "batch_size", "data.n_train", "env.git_commit"} <= names,
              f"[server] experiment hparams include lr, batch_size, data.n_train, env.git_commit ({len(names)} in all)")
        metrics = sorted(m["name"]["tag"] for m in exp.get("metricInfos", []))
        check(metrics == ["val/accuracy", "val/loss"], f"[server] declared metrics {metrics}")
        groups = post(base + "/data/plugin/hparams/session_groups", {
            "experimentName": "", "startIndex": 0, "sliceSize": 100, "colParams": [],
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]})
        got = {}
        for g in groups.get("sessionGroups", []):
            acc = {m["name"]["tag"]: m["value"] for m in g.get("metricValues", [])}
            got[g["name"]] = (g["hparams"].get("lr"), [s["status"] for s in g["sessions"]],
                              acc.get("val/accuracy"))
        want = {run: (float(run.split("=")[1]), ["STATUS_SUCCESS"], last_acc[run]) for run in last_acc}
        check(got == want, f"[server] session groups {got}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def check_inspect(tensorboard, sweep):
    out = subprocess.run([tensorboard, "--inspect", "--logdir", sweep], capture_output=True,
                         text=True, timeout=300)
    text = out.stdout + out.stderr
    runs = [r for r in ("lr=0.01", "lr=0.1", "lr=1") if os.path.join(sweep, r) in text]
    check(out.returncode == 0 and len(runs) == 3, f"[inspect] tensorboard --inspect lists runs {runs}")
    for tag in ("train/loss", "val/accuracy", "prediction", "weights"):
        check(tag in text, f"[inspect] lists tag {tag}")


def check_readme_query(tfevents, sweep, readme):
    import re
    import duckdb
    text = open(readme, encoding="utf-8").read()
    m = re.search(r"^```sql sweep[ \t]*\n(.*?)^```", text, re.M | re.S)
    if not check(m is not None, "[readme] has a ```sql sweep block"):
        return
    with tempfile.TemporaryDirectory() as tmp:
        tables = os.path.join(tmp, "tables")
        subprocess.run([tfevents, "convert", sweep, "--out", tables], check=True,
                       capture_output=True)
        sql = re.sub(r"(?<![\w./-])tables/", tables + "/", m.group(1))
        rows = duckdb.connect().execute(sql).fetchall()
        out = subprocess.run(
            [tfevents, "runs", sweep, "--filter",
             "metrics.`val/accuracy` > 0.91 and attributes.status = 'SUCCESS'",
             "--order-by", "params.lr ASC", "--format", "json"],
            check=True, capture_output=True, text=True).stdout
        want = [(r["run"], r["params.lr"], r["metrics.val/accuracy"]) for r in json.loads(out)]
        got = [tuple(r) for r in rows]
        check(len(want) > 0 and got == want,
              f"[readme] DuckDB answers as tfevents runs: {got} (tfevents runs: {want})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tfevents", required=True)
    ap.add_argument("--logdir", required=True, help="directory holding sweep/ (and receiving cli/)")
    ap.add_argument("--readme", default=None, help="README whose ```sql sweep block is checked")
    ap.add_argument("--tensorboard", default=os.path.join(os.path.dirname(sys.executable), "tensorboard"))
    args = ap.parse_args()
    sweep = os.path.join(args.logdir, "sweep")
    check_cli_log(os.path.abspath(args.tfevents), args.logdir)
    last_acc = check_sweep(sweep)
    check_server(args.tensorboard, sweep, last_acc)
    check_inspect(args.tensorboard, sweep)
    if args.readme:
        check_readme_query(os.path.abspath(args.tfevents), sweep, args.readme)
    print(f"{RESULTS['pass']} passed, {RESULTS['fail']} failed")
    sys.exit(1 if RESULTS["fail"] else 0)


if __name__ == "__main__":
    main()
