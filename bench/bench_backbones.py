"""Training rate of chosen backbones, measured side by side with a reference backbone.

``bench/bench_pipeline.py`` measures every backbone's CPU training rate once; on a
shared machine a later measurement of one new backbone is distorted by the load of
the day. This script times the backbones named by ``--backbones`` between two timings
of each ``--references`` backbone (default ``gru`` and ``resnet1d18``) in one process,
with ``bench_pipeline``'s ``backbone_rate`` (batch 256, ``train_on_batch`` after
warm-up), and writes per backbone its parameter count (linear head, 5 labels), its
measured samples/s, its ratio to each reference times that reference's rate in
``bench/results/pipeline.json``, and the geometric mean of those estimates (what goes
into the backbone's ``cpu_samples_per_s``), plus the load average before and after.

Run: ``python bench/bench_backbones.py --backbones transformer1d``
(writes ``bench/results/backbones.json``)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import LABELS, SHAPE, backbone_rate, build_model, tf  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["transformer1d"])
    parser.add_argument("--references", nargs="+", default=["gru", "resnet1d18"],
                        help="backbones with a rate in --pipeline, timed before and after")
    parser.add_argument("--pipeline", default="bench/results/pipeline.json",
                        help="bench_pipeline results holding the references' rates")
    parser.add_argument("--out", default="bench/results/backbones.json")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra- and inter-op threads (0: its default); 1 keeps "
                             "ratios steadier on a loaded machine")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    published = json.loads(Path(args.pipeline).read_text())["backbones"]
    load_before = os.getloadavg()

    def rate(name):
        return backbone_rate(name, args.warmup, args.steps)["samples_per_s"]

    before = {name: rate(name) for name in args.references}
    measured = {name: rate(name) for name in args.backbones}
    after = {name: rate(name) for name in args.references}
    references = {name: {"samples_per_s_now": [before[name], after[name]],
                         "samples_per_s_in_pipeline_json": published[name]["samples_per_s"]}
                  for name in args.references}
    results = {
        "references": references,
        "threads": args.threads or "tensorflow default",
        "load_average_1_5_15": {"before": [round(v, 2) for v in load_before],
                                "after": [round(v, 2) for v in os.getloadavg()]},
        "cpus": os.cpu_count(),
        "backbones": {},
    }
    for name, now in measured.items():
        estimates = {reference: round(now / ((before[reference] + after[reference]) / 2)
                                      * published[reference]["samples_per_s"], 1)
                     for reference in args.references}
        results["backbones"][name] = {
            "params": build_model(name, len(LABELS), input_shape=SHAPE).count_params(),
            "samples_per_s_now": now,
            "estimated_samples_per_s_via": estimates,
            "estimated_samples_per_s": round(statistics.geometric_mean(estimates.values()), 1),
        }
        print(f"{name}: {now} samples/s now; scaled by each reference's pipeline.json rate: "
              f"{estimates}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average {results['load_average_1_5_15']} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
