#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, the Rust test suite, and the interop checks
# against Python TensorBoard, pyarrow and DuckDB (in a virtual environment it creates under
# target/): files tfevents reads, tables it writes, and event files it writes.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --locked

echo "== interop: tfevents dump vs TensorBoard's EventAccumulator"
cargo build --release --locked
VENV=target/interop-venv
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
"$VENV/bin/python" tests/interop/compare_ea.py --tfevents target/release/tfevents --logdir fixtures/logdir

echo "== interop: Parquet tables in pyarrow, pandas and DuckDB"
"$VENV/bin/python" tests/interop/check_parquet.py --tfevents target/release/tfevents \
    --logdir fixtures/logdir --readme README.md

echo "== interop: files written by tfevents in Python TensorBoard"
cargo build --release --locked --example train
WRITER_OUT=target/interop-writer
rm -rf "$WRITER_OUT"
mkdir -p "$WRITER_OUT"
target/release/examples/train --logdir "$WRITER_OUT/sweep"
TFEVENTS_WRITER_OUT="$WRITER_OUT" cargo test --locked --test writer -- every_kind resume
"$VENV/bin/python" tests/interop/compare_ea.py --tfevents target/release/tfevents --logdir "$WRITER_OUT"
"$VENV/bin/python" tests/interop/check_writer.py --tfevents target/release/tfevents --logdir "$WRITER_OUT" \
    --readme README.md
