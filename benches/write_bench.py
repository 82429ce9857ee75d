#!/usr/bin/env python3
"""Scalar logging throughput: tfevents' `Run::log` against the Python writers, in one run.

    python3 benches/write_bench.py [--events 2000000] [--python-events 200000]

* tfevents: `examples/write_bench.rs` (release build): `run.log(step, &[(tag, value)])` per
  scalar, 8 tags per step, default flush policy (every 2 s or 1 MiB), timed from creating
  the run to the end of `close()` (file synced). 5 runs, median.
* tensorboardX `SummaryWriter.add_scalar(tag, value, step)` per scalar, then `close()`.
* TensorBoard's `EventFileWriter` (what PyTorch's `torch.utils.tensorboard.SummaryWriter`
  writes through): an `Event` with one `simple_value` built and passed to `add_event` per
  scalar, then `close()`.

Python times are taken inside the process around the loop and the close, so start-up and
imports are not counted; each Python writer runs 3 times, median. Every file is read back
with `tfevents inspect --json` and must hold exactly the scalars written. The Python tools
run in a virtualenv (`--venv`) made from benches/write_requirements.txt when missing.
Prints a Markdown table with events/s and each writer's ratio to tfevents, and the
1-minute load average before and after (other work on the machine skews the ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "benches" / "write_requirements.txt"

PY_WRITER = r"""
import sys, time
kind, logdir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tags = ["train/loss", "train/accuracy", "train/lr", "val/loss", "val/mAP", "val/accuracy",
        "train/grad_norm", "perf/samples_per_sec"]
if kind == "tensorboardx":
    from tensorboardX import SummaryWriter
    t0 = time.perf_counter()
    w = SummaryWriter(logdir)
    v = 1.0
    for i in range(n):
        v = v * 0.999999 + 1e-7
        w.add_scalar(tags[i % 8], v, i // 8)
    w.close()
else:
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.compat.proto import event_pb2, summary_pb2
    t0 = time.perf_counter()
    w = EventFileWriter(logdir)
    v = 1.0
    for i in range(n):
        v = v * 0.999999 + 1e-7
        w.add_event(event_pb2.Event(wall_time=time.time(), step=i // 8, summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tags[i % 8], simple_value=v)])))
    w.close()
print(time.perf_counter() - t0)
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(REQUIREMENTS)], check=True)
    return python


def scalars_in(tfevents: Path, logdir: Path) -> int:
    out = subprocess.run([str(tfevents), "inspect", "--json", str(logdir)], check=True,
                         capture_output=True, text=True).stdout
    doc = json.loads(out)
    return sum(t["count"] for r in doc["runs"] for t in r["tags"] if t["kind"] == "scalar")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=2_000_000, help="scalars per tfevents run")
    ap.add_argument("--python-events", type=int, default=200_000, help="scalars per Python run")
    ap.add_argument("--venv", type=Path, default=Path("/tmp/tfevents-bench/write-venv"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--python-reps", type=int, default=3)
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "write_bench"],
                   cwd=REPO, check=True)
    bench = REPO / "target" / "release" / "examples" / "write_bench"
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    tfevents = REPO / "target" / "release" / "tfevents"
    python = ensure_venv(args.venv)
    load_before = os.getloadavg()[0]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        times = []
        for rep in range(args.reps):
            d = Path(tmp) / f"tfevents-{rep}"
            out = subprocess.run([str(bench), str(d), "--events", str(args.events)], check=True,
                                 capture_output=True, text=True).stdout
            times.append(json.loads(out)["seconds"])
            got = scalars_in(tfevents, d)
            if got != args.events:
                log(f"tfevents wrote {got} scalars, expected {args.events}")
                return 1
        rows.append(("tfevents `Run::log`", args.events, statistics.median(times)))
        for kind, name in [("tensorboardx", "tensorboardX 2.6.5 `add_scalar`"),
                           ("eventfilewriter", "TensorBoard 2.21 `EventFileWriter.add_event`")]:
            times = []
            for rep in range(args.python_reps):
                d = Path(tmp) / f"{kind}-{rep}"
                out = subprocess.run([str(python), "-c", PY_WRITER, kind, str(d), str(args.python_events)],
                                     check=True, capture_output=True, text=True).stdout
                times.append(float(out.strip().splitlines()[-1]))
                got = scalars_in(tfevents, d)
                if got != args.python_events:
                    log(f"{kind} wrote {got} scalars, expected {args.python_events}")
                    return 1
            rows.append((name, args.python_events, statistics.median(times)))
    load_after = os.getloadavg()[0]

    base = rows[0][1] / rows[0][2]
    print("| writer | scalars | wall (s) | scalars/s | tfevents is |")
    print("|---|--:|--:|--:|--:|")
    for name, n, secs in rows:
        rate = n / secs
        ratio = "1x" if rate == base else f"{base / rate:.0f}x faster"
        print(f"| {name} | {n:,} | {secs:.3f} | {rate:,.0f} | {ratio} |")
    print(f"\nload average (1 min): {load_before:.2f} before, {load_after:.2f} after; "
          f"{os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
