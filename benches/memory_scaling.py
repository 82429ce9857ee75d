#!/usr/bin/env python3
"""How `tfevents convert` scales in memory and time with the number of runs and of steps.

Three synthetic logdirs (8 tags each), made with `cargo run --release --example
synthetic_logdir` under `--root` (/tmp/tfevents-bench) when missing:

* base, `logdir`: 16 runs x 20,000 steps (2,560,000 scalars, 130 MB; read_bench.py's logdir)
* 10x runs, `logdir-160runs`: 160 runs x 20,000 steps (25.6 M scalars, 1.3 GB)
* 10x steps, `logdir-200ksteps`: 16 runs x 200,000 steps (25.6 M scalars, 1.3 GB)

Each logdir is read once to put it in the page cache, then converted `--reps` times (3) with
`tfevents convert DIR --out OUT`, each time into a new empty directory that is deleted
afterwards, under GNU time for the peak RSS (`/usr/bin/time -f %M`). Prints a Markdown table:
median wall time, throughput, CPU, the highest peak RSS of the runs and its ratio to base's
(target: at most 1.5x). The scalar count each run reports must be runs x 8 x steps.

Timing waits until the 1-minute load average is at most `--max-load` (0.5), for up to
`--max-wait` seconds; the load average is printed with the results. Needs only the standard
library (and GNU time).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from read_bench import (  # noqa: E402
    DEFAULT_ROOT,
    DEFAULT_TFEVENTS,
    GNU_TIME,
    REPO,
    check,
    count_records,
    ensure_tfevents,
    event_files,
    gnu_time_rss,
    load_average,
    log,
    machine_info,
    wait_for_quiet,
)

TAGS = 8  # synthetic_logdir's default
RSS_RATIO_TARGET = 1.5
CONVERTED_RE = re.compile(r"converted .*?scalars ([0-9,]+)")


@dataclass
class Case:
    name: str
    dirname: str
    runs: int
    steps: int


CASES = [
    Case("base", "logdir", 16, 20_000),
    Case("10x runs", "logdir-160runs", 160, 20_000),
    Case("10x steps", "logdir-200ksteps", 16, 200_000),
]


def ensure_logdir(logdir: Path, case: Case) -> None:
    if logdir.exists() and event_files(logdir):
        return
    check(
        [
            "cargo", "run", "--release", "--example", "synthetic_logdir", "--", str(logdir),
            "--runs", str(case.runs), "--steps", str(case.steps),
        ],  # fmt: skip
        cwd=REPO,
    )


@dataclass
class Measured:
    case: Case
    files: int
    events: int
    total_bytes: int
    walls: list[float]
    cpus: list[float]
    rss_mb: list[float]
    load: str
    failed: str = ""


def measure(binary: Path, logdir: Path, case: Case, args: argparse.Namespace) -> Measured:
    files = event_files(logdir)
    total_bytes = sum(f.stat().st_size for f in files)
    log(f"{case.name}: reading {len(files)} event files once ({total_bytes / 1e6:.1f} MB) ...")
    events = count_records(files)
    load = wait_for_quiet(args.max_load, args.max_wait, "memory_scaling")
    m = Measured(case, len(files), events, total_bytes, [], [], [], load)
    expected = case.runs * TAGS * case.steps
    for i in range(args.reps):
        with tempfile.TemporaryDirectory(prefix="tfevents-convert-", dir=args.root) as tmp:
            cmd = [str(binary), "convert", str(logdir), "--out", str(Path(tmp) / "out")]
            proc, rss = gnu_time_rss(cmd, args.timeout)
        if proc.returncode != 0:
            m.failed = "timed out" if proc.timed_out else f"exit {proc.returncode}"
            log(proc.stderr[-2000:])
            break
        match = CONVERTED_RE.search(proc.stderr)
        scalars = int(match.group(1).replace(",", "")) if match else -1
        if scalars != expected:
            m.failed = f"{scalars:,} scalars converted, expected {expected:,}"
            break
        m.walls.append(proc.wall)
        m.cpus.append(proc.cpu)
        m.rss_mb.append(rss)
        log(f"  {case.name} #{i + 1}: {proc.wall:.3f} s, peak RSS {rss:,.0f} MB")
    return m


def table(results: list[Measured]) -> list[str]:
    base = results[0]
    base_rss = max(base.rss_mb) if base.rss_mb else None
    lines = [
        "| Logdir | Runs × steps | Scalars | Event files (MB) | Runs | Wall median (s) "
        "| MB/s | M scalars/s | CPU (s) | Peak RSS (MB) | RSS vs base | ≤ 1.5× |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for m in results:
        c = m.case
        scalars = c.runs * TAGS * c.steps
        head = (
            f"| {c.name} | {c.runs} × {c.steps:,} | {scalars / 1e6:,.2f} M "
            f"| {m.total_bytes / 1e6:,.1f} | {len(m.walls)}"
        )
        if not m.walls:
            lines.append(f"{head} | – | – | – | – | – | – | {m.failed} |")
            continue
        wall = statistics.median(m.walls)
        rss = max(m.rss_mb)
        if base_rss and rss == rss:  # not NaN
            ratio = rss / base_rss
            ratio_s = f"{ratio:.2f}×"
            met = "yes" if ratio <= RSS_RATIO_TARGET else "**no**"
        else:
            ratio_s, met = "–", "–"
        if m.failed:
            met += f" ({m.failed})"
        lines.append(
            f"{head} | {wall:.3f} | {m.total_bytes / wall / 1e6:,.0f} "
            f"| {scalars / wall / 1e6:.2f} | {statistics.median(m.cpus):.2f} | {rss:,.0f} "
            f"| {ratio_s} | {met} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tfevents", type=Path, default=DEFAULT_TFEVENTS)
    parser.add_argument(
        "--root",
        type=Path,
        default=DEFAULT_ROOT,
        help="where the logdirs are, and the outputs go (default %(default)s)",
    )
    parser.add_argument("--reps", type=int, default=3, help="converts per logdir (default 3)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="cap on each convert, seconds (default 600)"
    )
    parser.add_argument("--max-load", type=float, default=0.5, help="see read_bench.py")
    parser.add_argument("--max-wait", type=float, default=600.0, help="see read_bench.py")
    args = parser.parse_args()
    if not GNU_TIME.exists():
        sys.exit(f"memory_scaling: needs GNU time at {GNU_TIME}")

    binary = ensure_tfevents(args.tfevents)
    args.root.mkdir(parents=True, exist_ok=True)
    logdirs = [args.root / case.dirname for case in CASES]
    for logdir, case in zip(logdirs, CASES):
        ensure_logdir(logdir, case)

    results = [measure(binary, logdir, case, args) for logdir, case in zip(logdirs, CASES)]
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True
    ).stdout.strip()
    out = [
        f"`tfevents convert DIR --out OUT` ({version or binary}), {args.reps} runs per logdir "
        f"under `{args.root}`, 8 tags per run, files in the page cache. Peak RSS: the highest of "
        "the runs (GNU time). MB = 10^6 bytes of event files.",
        "",
        *table(results),
        "",
        *machine_info(),
        "Load average (1 min) before base / 10x runs / 10x steps, and after: "
        + " / ".join(m.load for m in results)
        + f", {load_average()}",
    ]
    print("\n".join(out))
    return 0 if all(m.walls and not m.failed for m in results) else 1


if __name__ == "__main__":
    sys.exit(main())
