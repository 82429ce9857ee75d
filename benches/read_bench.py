#!/usr/bin/env python3
"""Compare `tfevents inspect` with TensorBoard's own readers on one logdir.

Measured in one run, on the same logdir, with its files in the page cache:

* `tfevents inspect DIR` (release build, stdout to /dev/null), 5 runs.
* `tfevents convert DIR --out OUT` (Parquet tables), 5 runs, each into a new empty temporary
  directory that is deleted afterwards (deleting it is not timed).
* TensorBoard's Rust data server (tensorboard-data-server) loading DIR once with every scalar
  kept (`--samples-per-plugin scalars=all`), 3 runs, with and without `--checksum`.
  The load is over when the server logs "Finished load cycle" (it does so with `--verbose`);
  the time is taken from starting the process to reading that line.
* tbparse: `SummaryReader(DIR, pivot=False, extra_columns={'dir_name'}).scalars`, 1 run.
* TensorBoard's EventAccumulator with `size_guidance={'scalars': 0}` over every run, 1 run.

The script itself needs only the standard library. The Python tools run in a virtualenv
(`--venv`) that it creates from benches/requirements.txt when missing. A missing logdir is
generated with `cargo run --release --example synthetic_logdir`, a missing default binary with
`cargo build --release`. Every tool run is capped by `--timeout` seconds.

Prints a Markdown table and the machine it ran on. Besides wall time it gives each tool's CPU
time (user + system, from wait4) and peak RSS (VmHWM; for tfevents via GNU time from an extra
untimed run), and checks that every tool saw as many scalars as `tfevents inspect --json` counts
(for `convert`: the rows of scalars.parquet, and the `scalars` column of runs.parquet summed,
read with pyarrow). A second table sets `convert` against its targets: at least 3x faster than
the data server's load, at least 100x faster than tbparse, peak RSS under 300 MB.

Timing starts only once the 1-minute load average is at most `--max-load` (0.5), waiting up to
`--max-wait` seconds (600) for it; the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = Path("/tmp/tfevents-bench")
DEFAULT_TFEVENTS = REPO / "target" / "release" / "tfevents"
REQUIREMENTS = REPO / "benches" / "requirements.txt"
# The data server's log line at the end of a load cycle, with the cycle's duration as Rust's
# `Duration` prints it ("1.545621062s", "789.935µs").
FINISHED_RE = re.compile(r"Finished load cycle(?: \(([0-9.]+)(ns|µs|us|ms|s)\))?")
UNIT_SECS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
GNU_TIME = Path("/usr/bin/time")
# Targets for `tfevents convert` on this logdir (the second table).
CONVERT_VS_SERVER = 3.0  # at least this many times faster than the data server's load
CONVERT_VS_TBPARSE = 100.0  # at least this many times faster than tbparse
CONVERT_RSS_MB = 300.0  # peak RSS below this


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes


@dataclass
class Proc:
    """One finished process: wall time and CPU time (from wait4())."""

    wall: float
    returncode: int | None
    timed_out: bool
    cpu: float = 0.0
    stdout: str = ""
    stderr: str = ""


def _reap(popen: subprocess.Popen) -> tuple[int, float]:
    """Waits for `popen` with wait4(); returns (returncode, CPU seconds).

    (wait4's ru_maxrss is not used: a child reports this script's own peak RSS as its floor, as
    it starts out sharing or copying this script's memory. Peak memory is read from VmHWM in
    /proc/PID/status instead, which starts afresh at exec; see `vm_hwm_mb`.)
    """
    _, status, usage = os.wait4(popen.pid, 0)
    popen.returncode = os.waitstatus_to_exitcode(status)
    return popen.returncode, usage.ru_utime + usage.ru_stime


def vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak resident memory of a live process (VmHWM), in MB; NaN when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return float("nan")


class Watchdog:
    """Kills a process after `timeout` seconds unless cancelled."""

    def __init__(self, popen: subprocess.Popen, timeout: float):
        self.fired = False
        self._popen = popen
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(ProcessLookupError):
            self._popen.kill()

    def cancel(self) -> None:
        self._timer.cancel()


def gnu_time_rss(
    cmd: list[str], timeout: float, capture_stdout: bool = False
) -> tuple[Proc, float]:
    """Runs `cmd` under GNU time (when /usr/bin/time is there); returns it and its peak RSS (MB).

    GNU time's own small footprint is the floor of the figure. NaN when unknown.
    """
    if not GNU_TIME.exists():
        return run_timed(cmd, timeout, capture_stdout), float("nan")
    with tempfile.NamedTemporaryFile("r") as rss_file:
        wrapped = [str(GNU_TIME), "-f", "%M", "-o", rss_file.name, *cmd]
        proc = run_timed(wrapped, timeout, capture_stdout)
        try:
            return proc, int(rss_file.read().split()[-1]) * 1024 / 1e6
        except (ValueError, IndexError):
            return proc, float("nan")


def run_timed(cmd: list[str], timeout: float, capture_stdout: bool = False) -> Proc:
    """Runs `cmd` to completion; stdout goes to /dev/null unless captured."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out if capture_stdout else subprocess.DEVNULL,
            stderr=err,
        )
        dog = Watchdog(popen, timeout)
        rc, cpu = _reap(popen)
        wall = time.perf_counter() - start
        dog.cancel()
        out.seek(0)
        err.seek(0)
        return Proc(
            wall=wall,
            returncode=rc,
            timed_out=dog.fired,
            cpu=cpu,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def check(cmd: list[str], **kwargs) -> None:
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run(cmd, check=True, **kwargs)


# ---------------------------------------------------------------------------------------------
# Setup


def ensure_tfevents(path: Path) -> Path:
    if path.exists():
        return path
    if path.resolve() != DEFAULT_TFEVENTS.resolve():
        sys.exit(f"read_bench: no tfevents binary at {path}")
    check(["cargo", "build", "--release", "--bin", "tfevents"], cwd=REPO)
    return path


def event_files(logdir: Path) -> list[Path]:
    return sorted(p for p in logdir.rglob("*tfevents*") if p.is_file())


def ensure_logdir(logdir: Path) -> None:
    if logdir.exists() and event_files(logdir):
        return
    check(
        ["cargo", "run", "--release", "--example", "synthetic_logdir", "--", str(logdir)],
        cwd=REPO,
    )


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        check([sys.executable, "-m", "venv", str(venv)])
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import tensorboard, tensorboard_data_server, tbparse, pandas, pyarrow.parquet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if probe.returncode != 0:
        check([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)])
    return python


def py_output(python: Path, code: str, *args: str) -> str:
    return subprocess.run(
        [str(python), "-c", code, *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def count_records(files: list[Path]) -> int:
    """Walks the TFRecord framing of every file (this also puts them in the page cache)."""
    records = 0
    for path in files:
        data = path.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack_from("<Q", data, pos)
            end = pos + 12 + length + 4
            if end > len(data):
                break
            records += 1
            pos = end
    return records


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews the numbers."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return "?"


def wait_for_quiet(max_load: float, max_wait: float, what: str = "read_bench") -> str:
    """Waits until the 1-minute load average is at most `max_load`, for `max_wait` s at most.

    Returns the load average it ends with (measurements go on after `max_wait` regardless, and
    the load average in the output shows it).
    """
    deadline = time.monotonic() + max_wait
    said = False
    while True:
        load = load_average()
        try:
            if float(load) <= max_load:
                return load
        except ValueError:
            return load
        if time.monotonic() >= deadline:
            log(f"{what}: load average still {load} after {max_wait:.0f} s; measuring anyway")
            return load
        if not said:
            log(f"{what}: load average {load} > {max_load}; waiting for the machine to be idle")
            said = True
        time.sleep(5)


def machine_info() -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024**2:.0f} GiB RAM"
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return [
        f"CPU: {model}, nproc {nproc or os.cpu_count()}" + (f", {mem}" if mem else ""),
        f"OS: {platform.system()} {platform.release()}, Python {platform.python_version()}",
    ]


# ---------------------------------------------------------------------------------------------
# Tools


@dataclass
class Result:
    tool: str
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: float = float("nan")
    note: str = ""
    failed: str = ""


def bench_tfevents(binary: Path, logdir: Path, reps: int, timeout: float) -> tuple[Result, int]:
    res = Result("`tfevents inspect`")
    # Untimed: the values it counted, for the cross-check, and its peak RSS.
    cmd = [str(binary), "inspect", "--json", str(logdir)]
    proc, res.rss_mb = gnu_time_rss(cmd, timeout, True)
    if proc.returncode != 0 and GNU_TIME.exists():
        proc = run_timed(cmd, timeout, True)
    values = -1
    if proc.returncode == 0:
        values = sum(run["values"] for run in json.loads(proc.stdout)["runs"])
    for i in range(reps):
        proc = run_timed([str(binary), "inspect", str(logdir)], timeout)
        if proc.returncode != 0:
            res.failed = "timed out" if proc.timed_out else f"exit {proc.returncode}"
            if proc.stderr.strip():
                log(proc.stderr[-2000:])
            break
        res.times.append(proc.wall)
        res.cpu.append(proc.cpu)
        log(f"  tfevents inspect #{i + 1}: {proc.wall:.3f} s")
    res.note = f"{values:,} values"
    return res, values


PARQUET_ROWS = r"""
import sys
import pyarrow.compute as pc
import pyarrow.parquet as pq
rows = pq.ParquetFile(sys.argv[1] + "/scalars.parquet").metadata.num_rows
runs = pc.sum(pq.read_table(sys.argv[1] + "/runs.parquet", columns=["scalars"])["scalars"])
print(rows, runs.as_py() or 0)
"""
# The summary `tfevents convert` prints on stderr, for when pyarrow is not at hand.
CONVERTED_RE = re.compile(r"converted .*?scalars ([0-9,]+)")


def bench_convert(
    binary: Path, logdir: Path, python: Path | None, reps: int, timeout: float
) -> tuple[Result, int]:
    """Times `tfevents convert DIR --out OUT`, each run into a new empty directory."""
    res = Result("`tfevents convert` (Parquet)")
    rows = -1
    with tempfile.TemporaryDirectory(prefix="tfevents-convert-") as tmp:
        # Untimed: peak RSS, and the rows written, for the cross-check.
        out = Path(tmp) / "out"
        cmd = [str(binary), "convert", str(logdir), "--out", str(out)]
        proc, res.rss_mb = gnu_time_rss(cmd, timeout)
        if proc.returncode != 0:
            res.failed = "timed out" if proc.timed_out else f"exit {proc.returncode}"
            log(proc.stderr[-2000:])
            return res, rows
        if python is not None:
            counted = py_output(python, PARQUET_ROWS, str(out)).split()
            rows, run_rows = int(counted[0]), int(counted[1])
            res.note = f"{rows:,} rows in scalars.parquet"
            if run_rows != rows:
                res.note += f" but {run_rows:,} in runs.parquet"
                rows = -2  # never matches
        else:
            match = CONVERTED_RE.search(proc.stderr)
            rows = int(match.group(1).replace(",", "")) if match else -2
            res.note = f"{rows:,} rows (its own summary; no pyarrow)"
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        res.note += f"; output {size / 1e6:.1f} MB"
    for i in range(reps):
        with tempfile.TemporaryDirectory(prefix="tfevents-convert-") as tmp:
            out = Path(tmp) / "out"
            proc = run_timed([str(binary), "convert", str(logdir), "--out", str(out)], timeout)
        if proc.returncode != 0:
            res.failed = "timed out" if proc.timed_out else f"exit {proc.returncode}"
            if proc.stderr.strip():
                log(proc.stderr[-2000:])
            break
        res.times.append(proc.wall)
        res.cpu.append(proc.cpu)
        log(f"  tfevents convert #{i + 1}: {proc.wall:.3f} s")
    return res, rows


VERIFY_SERVER = r"""
import sys, grpc
from tensorboard.data.proto import data_provider_pb2, data_provider_pb2_grpc
channel = grpc.insecure_channel(sys.argv[1], options=[("grpc.max_receive_message_length", 1 << 30)])
stub = data_provider_pb2_grpc.TensorBoardDataProviderStub(channel)
req = data_provider_pb2.ReadScalarsRequest()
req.plugin_filter.plugin_name = "scalars"
req.downsample.num_points = 1 << 30
res = stub.ReadScalars(req, timeout=120)
print(sum(len(tag.data.step) for run in res.runs for tag in run.tags))
"""


def bench_data_server(
    server: str, python: Path, logdir: Path, reps: int, timeout: float, checksum: bool
) -> tuple[Result, int]:
    """Times the data server from exec to its "Finished load cycle" log line."""
    flag = ["--checksum"] if checksum else []
    res = Result("TensorBoard data server" + (" `--checksum`" if checksum else ""))
    points = -1
    reported = []
    for i in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            port_file = Path(tmp) / "port"
            cmd = [
                server, "--logdir", str(logdir), "--reload", "once",
                "--samples-per-plugin", "scalars=all", "--host", "127.0.0.1", "--port", "0",
                "--port-file", str(port_file), "--die-after-stdin", "--verbose", *flag,
            ]  # fmt: skip
            start = time.perf_counter()
            popen = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            dog = Watchdog(popen, timeout)
            wall = None
            tail = []
            for line in popen.stderr:
                match = FINISHED_RE.search(line)
                if match:
                    wall = time.perf_counter() - start
                    res.rss_mb = vm_hwm_mb(popen.pid)
                    if match.group(1):
                        reported.append(float(match.group(1)) * UNIT_SECS[match.group(2)])
                    break
                tail = (tail + [line])[-20:]
            if wall is not None and i == 0 and not checksum:
                # Untimed: ask the server, over gRPC, how many points it holds.
                port = port_file.read_text().strip()
                try:
                    verify = subprocess.run(
                        [str(python), "-c", VERIFY_SERVER, f"127.0.0.1:{port}"],
                        check=True,
                        capture_output=True,
                        text=True,
                        timeout=timeout,
                    )
                    points = int(verify.stdout.strip())
                except (subprocess.SubprocessError, ValueError) as e:
                    log(f"  data server point count failed: {e}")
            popen.stdin.close()  # --die-after-stdin: the server exits
            drain = threading.Thread(target=popen.stderr.read, daemon=True)
            drain.start()
            _, cpu = _reap(popen)
            dog.cancel()
            if wall is None:
                res.failed = "timed out" if dog.fired else f"exit {popen.returncode}"
                log("".join(tail))
                break
            res.times.append(wall)
            res.cpu.append(cpu)
            own = f" (its own log: {reported[-1]:.3f} s)" if len(reported) > i else ""
            log(f"  data server{' --checksum' if checksum else ''} #{i + 1}: {wall:.3f} s{own}")
    if reported:
        res.note = f"its log: {statistics.median(reported):.3f} s"
        if points >= 0:
            res.note = f"{points:,} points; " + res.note
    return res, points


TBPARSE = r"""
import sys, time
from tbparse import SummaryReader
t = time.perf_counter()
df = SummaryReader(sys.argv[1], pivot=False, extra_columns={"dir_name"}).scalars
t = time.perf_counter() - t
print(t, len(df), open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""

ACCUMULATOR = r"""
import sys, time
from pathlib import Path
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
logdir = Path(sys.argv[1])
runs = sorted({p.parent for p in logdir.rglob("*tfevents*") if p.is_file()})
t = time.perf_counter()
accumulators = []  # all kept, so that memory holds every point as the other tools do
for run in runs:
    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    accumulators.append(acc)
n = sum(len(a.Scalars(tag)) for a in accumulators for tag in a.Tags()["scalars"])
t = time.perf_counter() - t
print(t, n, open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""


def bench_python(
    name: str, python: Path, code: str, logdir: Path, timeout: float
) -> tuple[Result, int]:
    """Runs `code` once; it prints its load time (imports excluded), row count and VmHWM (kB)."""
    res = Result(name)
    proc = run_timed([str(python), "-c", code, str(logdir)], timeout, capture_stdout=True)
    if proc.returncode != 0:
        res.failed = f"stopped at {timeout:.0f} s" if proc.timed_out else f"exit {proc.returncode}"
        if proc.stderr.strip():
            log(proc.stderr[-2000:])
        return res, -1
    secs, rows, hwm_kb = proc.stdout.split()[-3:]
    res.times.append(float(secs))
    res.cpu.append(proc.cpu)
    res.rss_mb = int(hwm_kb) * 1024 / 1e6
    res.note = f"{int(rows):,} rows; process {proc.wall:.1f} s"
    log(f"  {name}: {float(secs):.2f} s, {int(rows):,} rows (process {proc.wall:.1f} s)")
    return res, int(rows)


# ---------------------------------------------------------------------------------------------
# Report


def table(results: list[Result], events: int, total_bytes: int) -> list[str]:
    base = statistics.median(results[0].times) if results and results[0].times else None
    lines = [
        "| Tool | Runs | Wall median (s) | Wall min (s) | Events/s | MB/s | vs tfevents "
        "| CPU (s) | Peak RSS (MB) | Notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in results:
        if not r.times:
            lines.append(f"| {r.tool} | 0 | – | – | – | – | – | – | – | {r.failed} |")
            continue
        med, best = statistics.median(r.times), min(r.times)
        rss = "–" if r.rss_mb != r.rss_mb else f"{r.rss_mb:,.0f}"  # NaN: unknown
        notes = "; ".join(x for x in (r.note, r.failed) if x)
        if r is results[0]:
            ratio = "1.0×"
        elif not base:
            ratio = "–"
        elif med >= base:
            ratio = f"{med / base:,.1f}× slower"
        else:
            ratio = f"{base / med:,.1f}× faster"
        lines.append(
            f"| {r.tool} | {len(r.times)} | {med:.3f} | {best:.3f} | {events / med / 1e6:.2f} M "
            f"| {total_bytes / med / 1e6:,.1f} | {ratio} | {statistics.median(r.cpu):.2f} "
            f"| {rss} | {notes} |"
        )
    return lines


def convert_targets(results: dict[str, Result]) -> list[str]:
    """`tfevents convert` against its targets: speed-ups over the data server and tbparse (median
    wall times), and its peak RSS."""
    conv = results.get("convert")
    if conv is None or not conv.times:
        return []
    med = statistics.median(conv.times)
    lines = [
        "| `tfevents convert` vs | Their median (s) | Convert median (s) | Speed-up | Target "
        "| Met |",
        "|---|--:|--:|--:|--:|---|",
    ]
    rows = [
        ("data server", "TensorBoard data server load", CONVERT_VS_SERVER),
        ("data server --checksum", "data server `--checksum` load", CONVERT_VS_SERVER),
        ("tbparse", "tbparse", CONVERT_VS_TBPARSE),
        ("inspect", "`tfevents inspect`", None),
    ]
    for key, label, target in rows:
        other = results.get(key)
        if other is None or not other.times:
            if target is not None:
                lines.append(f"| {label} | – | {med:.3f} | – | ≥ {target:g}× | not run |")
            continue
        theirs = statistics.median(other.times)
        speedup = theirs / med
        met = "–" if target is None else ("yes" if speedup >= target else "**no**")
        goal = "–" if target is None else f"≥ {target:g}×"
        lines.append(f"| {label} | {theirs:.3f} | {med:.3f} | {speedup:,.1f}× | {goal} | {met} |")
    rss = conv.rss_mb
    if rss == rss:  # not NaN
        met = "yes" if rss < CONVERT_RSS_MB else "**no**"
        lines.append(f"| peak RSS | – | {rss:,.0f} MB | – | < {CONVERT_RSS_MB:g} MB | {met} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logdir", type=Path, default=DEFAULT_ROOT / "logdir")
    parser.add_argument("--tfevents", type=Path, default=DEFAULT_TFEVENTS)
    parser.add_argument("--venv", type=Path, default=DEFAULT_ROOT / "venv")
    parser.add_argument(
        "--skip-python", action="store_true", help="only time tfevents (no virtualenv needed)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="cap on each tool run, seconds (default 300)"
    )
    parser.add_argument(
        "--max-load",
        type=float,
        default=0.5,
        help="wait for the 1-minute load average to drop to this before timing (default 0.5)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=600.0,
        help="wait at most this long for --max-load, seconds (default 600)",
    )
    parser.add_argument(
        "--accumulator-timeout",
        type=float,
        default=120.0,
        help="EventAccumulator is skipped past this (default 120)",
    )
    args = parser.parse_args()

    binary = ensure_tfevents(args.tfevents)
    ensure_logdir(args.logdir)
    python = None if args.skip_python else ensure_venv(args.venv)

    files = event_files(args.logdir)
    total_bytes = sum(f.stat().st_size for f in files)
    log(f"reading {len(files)} event files once ({total_bytes / 1e6:.1f} MB) ...")
    events = count_records(files)
    log(f"{events:,} events")
    load_before = wait_for_quiet(args.max_load, args.max_wait)

    results: list[Result] = []
    counts: dict[str, int] = {}
    log("tfevents inspect x5")
    res, counts["tfevents inspect"] = bench_tfevents(binary, args.logdir, 5, args.timeout)
    results.append(res)
    by_key = {"inspect": res}
    log("tfevents convert x5")
    res, counts["tfevents convert"] = bench_convert(binary, args.logdir, python, 5, args.timeout)
    results.append(res)
    by_key["convert"] = res

    if python is not None:
        server = py_output(python, "import tensorboard_data_server as s; print(s.server_binary())")
        for checksum in (False, True):
            log(f"data server{' --checksum' if checksum else ''} x3")
            res, points = bench_data_server(server, python, args.logdir, 3, args.timeout, checksum)
            results.append(res)
            by_key["data server --checksum" if checksum else "data server"] = res
            if not checksum:
                counts["data server"] = points
        log("tbparse x1")
        res, counts["tbparse"] = bench_python(
            "tbparse `SummaryReader(...).scalars`", python, TBPARSE, args.logdir, args.timeout
        )
        results.append(res)
        by_key["tbparse"] = res
        log("EventAccumulator x1")
        res, counts["EventAccumulator"] = bench_python(
            "TensorBoard `EventAccumulator`",
            python,
            ACCUMULATOR,
            args.logdir,
            min(args.timeout, args.accumulator_timeout),
        )
        results.append(res)

    versions = []
    if python is not None:
        packages = (
            "tensorboard", "tensorboard-data-server", "tbparse", "pandas", "protobuf", "pyarrow"
        )  # fmt: skip
        code = "import sys; from importlib.metadata import version as v; "
        code += "print(', '.join(f'{p} {v(p)}' for p in sys.argv[1:]))"
        versions.append(py_output(python, code, *packages))

    targets = convert_targets(by_key)
    if targets:
        targets.append("")
    out = [
        f"Logdir `{args.logdir}`: {len(files)} event files, {events:,} events, "
        f"{total_bytes / 1e6:.1f} MB (MB = 10^6 bytes), read once before timing.",
        "",
        *table(results, events, total_bytes),
        "",
        *targets,
        *machine_info(),
        f"Load average (1 min) before / after: {load_before} / {load_average()}",
        *versions,
    ]
    print("\n".join(out))

    # Every tool must have seen the same scalars as tfevents.
    expected = counts.get("tfevents inspect", -1)
    bad = {k: v for k, v in counts.items() if v != -1 and v != expected}  # -1: not counted
    if expected < 0 or bad:
        print(f"\nCOUNT MISMATCH: {counts}")
        return 1
    print("\nScalars seen: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v >= 0))
    return 0 if all(r.times for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
