"""Do the transferability scores predict the measured fine-tune gain?

From one PTB-XL release folder (default: the real extract in ``../shared/data/ptbxl``,
else the bundled sample) the patients are split in two disjoint halves:

- upstream half: three upstream datasets built with ``python -m tfrecords_builder folder``:
  ``super`` (the 5 diagnostic superclasses), ``norm`` (NORM only) and ``shuffled`` (the
  superclass rows permuted across records: no relation between signal and label, a
  deliberately useless upstream);
- target half: a small ``target`` folder dataset with the 5 superclasses.

Every (upstream, model) pair is pre-trained, then one ``ecg-tl-keras advise`` run scores
every checkpoint (MELEP, LogME, linear probe) and fine-tunes all of them against
from-scratch runs with the same seeds. The benchmark writes, per score, the Spearman
correlation (``scipy.stats.spearmanr``) between the score, oriented so that higher means
"predicted better", and the mean measured gain (test weighted F1, fine-tune minus scratch)
over the pairs, with the pairs' numbers and the machine's load average.

Run (about 20-30 minutes on 2 busy CPU cores with the defaults)::

    python bench/bench_transferability.py --out bench/results/transferability.json
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
#: score -> does a higher value predict a better transfer?
SCORES = {"melep": False, "logme": True, "probe_val_f1": True}


def default_ptbxl() -> Path:
    shared = PROJECT_ROOT.parent / "shared" / "data" / "ptbxl"
    return shared if shared.is_dir() else PROJECT_ROOT / "ecg_tl_keras" / "sample_data" / "ptbxl"


def superclass_table(ptbxl: Path) -> pd.DataFrame:
    """One row per record: record path (no extension), patient, 0/1 per superclass."""
    statements = pd.read_csv(ptbxl / "scp_statements.csv", index_col=0)
    diagnostic = statements[statements["diagnostic"] == 1]["diagnostic_class"].to_dict()
    table = pd.read_csv(ptbxl / "ptbxl_database.csv")
    rows = []
    for row in table.itertuples():
        codes = ast.literal_eval(row.scp_codes)
        classes = {diagnostic[code] for code in codes if code in diagnostic}
        rows.append({"record": row.filename_lr, "patient": str(int(row.patient_id)),
                     **{name: int(name in classes) for name in SUPERCLASSES}})
    frame = pd.DataFrame(rows)
    return frame[frame[list(SUPERCLASSES)].sum(axis=1) > 0].reset_index(drop=True)


def build(source: Path, table: pd.DataFrame, name: str, work: Path) -> Path:
    from tfrecords_builder import build_dataset

    labels = work / f"{name}.csv"
    table.to_csv(labels, index=False)
    build_dataset("folder", source, work / "data", labels=str(labels), name=name, workers=0,
                  overwrite=True, progress=False, log=lambda _: None)
    return work / "data" / name


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ptbxl", type=Path, default=default_ptbxl())
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "ecg_tl_bench_transferability",
                        help="datasets, pre-trains and the advice (finished runs are reused)")
    parser.add_argument("--out", type=Path,
                        default=PROJECT_ROOT / "bench" / "results" / "transferability.json")
    parser.add_argument("--models", default="gru,lstm")
    parser.add_argument("--target-records", type=int, default=240)
    parser.add_argument("--pretrain-epochs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    from scipy.stats import spearmanr

    from ecg_tl_keras.advise import AdviseConfig, advise
    from ecg_tl_keras.datasets import load_manifest
    from ecg_tl_keras.training import RunDir, TrainConfig, train

    started = time.perf_counter()
    load_before = os.getloadavg()
    args.work.mkdir(parents=True, exist_ok=True)
    table = superclass_table(args.ptbxl)
    patients = np.array(sorted(set(table["patient"])))
    np.random.default_rng(0).shuffle(patients)
    upstream_patients = set(patients[: len(patients) // 2])
    upstream = table[table["patient"].isin(upstream_patients)]
    target = table[~table["patient"].isin(upstream_patients)].head(args.target_records)
    shuffled = upstream.copy()
    permutation = np.random.default_rng(1).permutation(len(shuffled))
    shuffled[list(SUPERCLASSES)] = upstream[list(SUPERCLASSES)].to_numpy()[permutation]
    upstreams = {
        "super": build(args.ptbxl, upstream, "super", args.work),
        "norm": build(args.ptbxl, upstream[["record", "patient", "NORM"]], "norm", args.work),
        "shuffled": build(args.ptbxl, shuffled, "shuffled", args.work),
    }
    target_dir = build(args.ptbxl, target, "target", args.work)

    checkpoints = []
    for name, data in upstreams.items():
        for model in args.models.split(","):
            run = RunDir(args.work / "pretrain" / f"{name}-{model}")
            if not run.is_finished():
                print(f"pre-training {model} on {name}", flush=True)
                train(TrainConfig(data=str(data), model=model, out=str(run.path),
                                  epochs=args.pretrain_epochs, batch_size=args.batch_size,
                                  verbose=0))
            checkpoints.append(run.best)

    advice_dir = args.work / "advice"
    advice = advise(AdviseConfig(data=str(target_dir), checkpoints=checkpoints,
                                 out=str(advice_dir), stage="finetune", seeds=args.seeds,
                                 top=len(checkpoints), epochs=args.epochs,
                                 batch_size=args.batch_size))
    pairs = []
    for candidate in advice["candidates"]:
        measured = advice["finetune"][candidate["name"]]
        pairs.append({"candidate": candidate["name"], "model": candidate["model"],
                      **{key: candidate["scores"][key] for key in SCORES},
                      "gains": measured["gains"], "mean_gain": float(np.mean(measured["gains"])),
                      "verdict": measured["interval"]["verdict"]})
    gains = [pair["mean_gain"] for pair in pairs]
    correlations = {}
    for key, higher_is_better in SCORES.items():
        oriented = [pair[key] if higher_is_better else -pair[key] for pair in pairs]
        rho, p_value = spearmanr(oriented, gains)
        correlations[key] = {"spearman_rho": float(rho), "p_value": float(p_value),
                             "oriented": "score" if higher_is_better else "minus score"}
    manifest = load_manifest(target_dir)
    result = {
        "what": "Spearman correlation between each transferability score (oriented: higher = "
                "predicted better) and the mean measured gain (test weighted F1, fine-tune minus "
                "scratch, paired by seed) over (upstream, model) pairs",
        "pairs": pairs,
        "n_pairs": len(pairs),
        "correlations": correlations,
        "settings": {"models": args.models.split(","), "upstreams": list(upstreams),
                     "target_records": {name: entry["records"] for name, entry
                                        in manifest["splits"].items()},
                     "upstream_records": len(upstream), "pretrain_epochs": args.pretrain_epochs,
                     "epochs": args.epochs, "seeds": args.seeds, "batch_size": args.batch_size,
                     "ptbxl_source": str(args.ptbxl)},
        "wall_time_s": round(time.perf_counter() - started, 1),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in correlations.items():
        print(f"{key}: Spearman rho {value['spearman_rho']:+.3f} (p {value['p_value']:.2f}) "
              f"over {len(pairs)} pairs")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
