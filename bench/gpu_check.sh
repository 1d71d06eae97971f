#!/usr/bin/env bash
# The GPU measurement of issue 13, in at most 8 minutes: bench/bench_train.py under the
# JAX, PyTorch and TensorFlow Keras backends (those installed), float32 and mixed_float16,
# every backbone plus the plain PyTorch ResNet1d18 reference in each run, then one summary,
# bench/results/gpu.json. Run from anywhere on a machine with an NVIDIA GPU:
#
#     bash bench/gpu_check.sh
#
# The backends must be their CUDA builds (e.g. pip install "jax[cuda12]", a CUDA wheel of torch):
# the project's `jax` extra is CPU-only; runs that saw no GPU are listed as not_on_a_gpu.
# bench_train.py writes its file after every round, so a run stopped by the time limit keeps
# the rounds it finished (listed as cut_short).
# BENCH_ARGS overrides bench_train.py's step counts (the CPU test of this script used
# BENCH_ARGS="--models gru --batch-size 8 --steps 1 --rounds 1", RUN_SECONDS=300, GPU_JSON=/tmp/x).
# BACKENDS picks the Keras backends (default "jax torch tensorflow"); none of the JAX runs
# imports TensorFlow (tests/test_jax_gpu_check.py runs BACKENDS=jax with TensorFlow blocked).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
RUN_SECONDS=${RUN_SECONDS:-75}   # 3 backends x 2 precisions x 75 s = 7.5 min at most
BENCH_ARGS=${BENCH_ARGS:-"--steps 5 --warmup 2 --rounds 2"}
GPU_JSON=${GPU_JSON:-bench/results/gpu.json}  # the CPU test writes elsewhere
PARTS=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
BACKENDS=${BACKENDS:-"jax torch tensorflow"}
for backend in $BACKENDS; do
    if ! python -c "import $backend" 2>/dev/null; then
        echo "$backend is not installed: skipped"
        continue
    fi
    for precision in float32 mixed_float16; do
        echo "== KERAS_BACKEND=$backend --precision $precision"
        # shellcheck disable=SC2086
        KERAS_BACKEND=$backend timeout "$RUN_SECONDS" python bench/bench_train.py \
            --precision "$precision" $BENCH_ARGS --out "$PARTS/${backend}_${precision}.json" \
            || echo "$backend $precision: did not finish within ${RUN_SECONDS} s"
    done
done
python - "$PARTS" "$GPU_JSON" <<'PY'
import json, os, sys
from pathlib import Path
parts, out = Path(sys.argv[1]), Path(sys.argv[2])
runs = [json.loads(p.read_text()) for p in sorted(parts.glob("*.json"))]
summary = {"runs": runs, "samples_per_s": {
    f"{r['backend']}/{r['precision']}": r["samples_per_s"] for r in runs}}
on_cpu = [f"{r['backend']}/{r['precision']}" for r in runs if r["device"]["kind"] != "gpu"]
if on_cpu:  # a CPU-only build of JAX, PyTorch or TensorFlow sees no GPU
    summary["not_on_a_gpu"] = on_cpu
    print("warning: these runs saw no GPU (a CPU-only build of the backend?):",
          ", ".join(on_cpu), file=sys.stderr)
cut = [f"{r['backend']}/{r['precision']}" for r in runs if r["rounds_done"] < r["rounds"]]
if cut:
    summary["cut_short"] = cut
    print("note: cut short by the time limit (fewer rounds):", ", ".join(cut), file=sys.stderr)
partial = out.with_name(f".{out.name}.partial")
partial.write_text(json.dumps(summary, indent=2) + "\n")
os.replace(partial, out)
print(json.dumps(summary["samples_per_s"], indent=1), f"-> {out}")
PY
rm -rf "$PARTS"
