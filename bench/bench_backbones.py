"""Training rate of chosen backbones, measured side by side with a reference backbone.

``bench/bench_pipeline.py`` measures every backbone's CPU training rate once; on a
shared machine a later measurement of one new backbone is distorted by the load of
the day. This script times the backbones named by ``--backbones`` between two timings
of ``--reference`` (default ``gru``) in one process, with ``bench_pipeline``'s
``backbone_rate`` (batch 256, ``train_on_batch`` after warm-up), and writes per
backbone its parameter count (linear head, 5 labels), its measured samples/s, the
ratio to the reference and that ratio times the reference's rate in
``bench/results/pipeline.json`` (the estimate that goes into the backbone's
``cpu_samples_per_s``), plus the load average before and after.

Run: ``python bench/bench_backbones.py --backbones transformer1d``
(writes ``bench/results/backbones.json``)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import LABELS, SHAPE, backbone_rate, build_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["transformer1d"])
    parser.add_argument("--reference", default="gru")
    parser.add_argument("--pipeline", default="bench/results/pipeline.json",
                        help="bench_pipeline results holding the reference's rate")
    parser.add_argument("--out", default="bench/results/backbones.json")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)

    reference_rate = json.loads(Path(args.pipeline).read_text())["backbones"][args.reference][
        "samples_per_s"]
    load_before = os.getloadavg()
    first = backbone_rate(args.reference, args.warmup, args.steps)["samples_per_s"]
    measured = {name: backbone_rate(name, args.warmup, args.steps) for name in args.backbones}
    last = backbone_rate(args.reference, args.warmup, args.steps)["samples_per_s"]
    reference_now = (first + last) / 2
    results = {
        "reference": {"name": args.reference, "samples_per_s_now": [first, last],
                      "samples_per_s_in_pipeline_json": reference_rate},
        "load_average_1_5_15": {"before": [round(v, 2) for v in load_before],
                                "after": [round(v, 2) for v in os.getloadavg()]},
        "cpus": os.cpu_count(),
        "backbones": {},
    }
    for name, rate in measured.items():
        ratio = rate["samples_per_s"] / reference_now
        results["backbones"][name] = {
            "params": build_model(name, len(LABELS), input_shape=SHAPE).count_params(),
            "samples_per_s_now": rate["samples_per_s"],
            "ratio_to_reference": round(ratio, 3),
            "estimated_samples_per_s": round(ratio * reference_rate, 1),
        }
        print(f"{name}: {rate['samples_per_s']} samples/s now, {ratio:.2f} x {args.reference} "
              f"-> about {ratio * reference_rate:.1f} samples/s at the pipeline.json load")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average {results['load_average_1_5_15']} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
