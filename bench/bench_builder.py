"""Builder benchmark: full-size PTB-XL- and Georgia-shaped trees, built, timed and checked.

Makes a PTB-XL-shaped tree (21,799 records at 100 Hz) and a Georgia-shaped tree
(10,344 CinC records at 500 Hz) by repeating the real sample records under new
ids and patients (headers rewritten, sample files hard-linked), builds both with
``python -m tfrecords_builder`` in a subprocess (peak memory = the largest total
RSS of its process tree, sampled every 20 ms), and runs a plain single-process
``wfdb.rdsamp`` + ``resample_poly`` converter over the first records of the same
trees in the same run. Checks that built examples equal scipy's resampling of
``wfdb.rdsamp`` within float32 rounding. Writes the figures to a JSON file.

Run: ``python bench/bench_builder.py --out bench/results/builder.json``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))  # run from a checkout without installing
PTBXL_RECORDS = 21_799
GEORGIA_RECORDS = 10_344
TARGETS = {"ptbxl_seconds": 20.0, "speedup_vs_plain": 5.0, "peak_memory_gib": 1.0}


def _default_samples() -> Path:
    shared = PROJECT.parent / "shared" / "data"
    return shared if shared.is_dir() else PROJECT / "ecg_tl_keras" / "sample_data"


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _copy_record(header: Path, new_dir: Path, new_name: str) -> None:
    """Write ``header`` under ``new_name`` (record and file names rewritten) and link its sample files."""
    lines = header.read_text().splitlines()
    old_name = lines[0].split()[0].split(".")[0]
    out_lines = [lines[0].replace(old_name, new_name, 1)]
    sample_files = set()
    for line in lines[1:]:
        if line and not line.startswith("#") and line.split()[0].startswith(old_name):
            sample_files.add(line.split()[0])
            line = line.replace(old_name, new_name, 1)
        out_lines.append(line)
    (new_dir / f"{new_name}.hea").write_text("\n".join(out_lines) + "\n")
    for name in sample_files:
        _link(header.parent / name, new_dir / name.replace(old_name, new_name, 1))


def make_ptbxl_tree(samples: Path, root: Path, count: int) -> Path:
    table = pd.read_csv(samples / "ptbxl_database.csv")
    rows = []
    for new_id in range(1, count + 1):
        copy, index = divmod(new_id - 1, len(table))
        row = table.iloc[index].copy()
        folder = f"{(new_id // 1000) * 1000:05d}"
        row["ecg_id"] = new_id
        row["patient_id"] = float(row["patient_id"]) + copy * 1_000_000
        row["filename_lr"] = f"records100/{folder}/{new_id:05d}_lr"
        row["filename_hr"] = f"records500/{folder}/{new_id:05d}_hr"
        (root / "records100" / folder).mkdir(parents=True, exist_ok=True)
        _copy_record(samples / f"{table.iloc[index]['filename_lr']}.hea", root / "records100" / folder,
                     f"{new_id:05d}_lr")
        rows.append(row)
    pd.DataFrame(rows).to_csv(root / "ptbxl_database.csv", index=False)
    shutil.copyfile(samples / "scp_statements.csv", root / "scp_statements.csv")
    return root


def make_georgia_tree(samples: Path, root: Path, count: int) -> Path:
    headers = sorted(samples.glob("*.hea"))
    root.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        _copy_record(headers[number % len(headers)], root, f"E{number + 1:05d}")
    return root


def _tree_rss_kib(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0]) if "VmRSS:" in status else 0
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):
            continue
    return total


def run_build(dataset: str, source: Path, out: Path) -> dict:
    command = [sys.executable, "-m", "tfrecords_builder", dataset, "--source", str(source),
               "--out", str(out), "--no-progress", "--overwrite"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]

    def sample():
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kib(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    output = process.communicate()[0]
    sampler.join()
    seconds = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"build of {dataset} failed:\n{output}")
    manifest = json.loads((out / dataset / "manifest.json").read_text())
    written = sum(split["records"] for split in manifest["splits"].values())
    return {"records_written": written, "records_dropped": len(manifest["dropped"]),
            "seconds": round(seconds, 2), "records_per_s": round(written / seconds, 1),
            "peak_memory_gib": round(peak[0] / 2**20, 3), "summary": output.strip().splitlines()[-3:]}


def plain_convert(headers: list[Path], out_file: Path) -> tuple[float, dict[str, np.ndarray]]:
    """The plain converter: wfdb.rdsamp + resample_poly + TFRecordWriter, one process."""
    import tensorflow as tf
    import wfdb
    from scipy.signal import resample_poly

    from tfrecords_builder.signal import STANDARD_LEADS

    wanted = [lead.lower() for lead in STANDARD_LEADS]
    converted = {}
    started = time.perf_counter()
    with tf.io.TFRecordWriter(str(out_file)) as writer:
        for header in headers:
            signal, fields = wfdb.rdsamp(str(header.with_suffix("")))
            names = [name.lower() for name in fields["sig_name"]]
            signal = signal[:, [names.index(lead) for lead in wanted]]
            down = int(round(fields["fs"] / 100))
            if down > 1:
                signal = resample_poly(signal, 1, down, axis=0)
            example = np.ascontiguousarray(signal[:1000], dtype=np.float32)
            writer.write(example.tobytes())
            converted[header.stem] = example
    return len(headers) / (time.perf_counter() - started), converted


def max_difference_to_plain(built_dir: Path, plain: dict[str, np.ndarray], id_of_stem) -> float:
    import tensorflow as tf

    spec = {"signal": tf.io.FixedLenFeature([], tf.string), "record_id": tf.io.FixedLenFeature([], tf.string)}
    worst, seen = 0.0, 0
    files = sorted(str(path) for path in built_dir.glob("*.tfrecord"))
    wanted = {id_of_stem(stem): stem for stem in plain}
    for raw in tf.data.TFRecordDataset(files):
        example = tf.io.parse_single_example(raw, spec)
        record_id = example["record_id"].numpy().decode()
        if record_id in wanted:
            signal = np.frombuffer(example["signal"].numpy(), dtype="<f4").reshape(1000, 12)
            worst = max(worst, float(np.max(np.abs(signal - plain[wanted[record_id]]))))
            seen += 1
    if seen == 0:
        raise RuntimeError("no built record matched the plain converter's records")
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(PROJECT / "bench" / "results" / "builder.json"))
    parser.add_argument("--samples", default=None, help="folder with ptbxl/ and georgia/ real samples")
    parser.add_argument("--plain-records", type=int, default=1500,
                        help="records the plain converter converts per dataset (rate is per record)")
    parser.add_argument("--ptbxl-records", type=int, default=PTBXL_RECORDS)
    parser.add_argument("--georgia-records", type=int, default=GEORGIA_RECORDS)
    parser.add_argument("--workdir", default=None, help="where the trees go (default: a temp folder, removed)")
    args = parser.parse_args(argv)
    samples = Path(args.samples) if args.samples else _default_samples()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ecg_bench_"))
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version()},
               "targets": TARGETS, "datasets": {}}
    try:
        trees = {
            "ptbxl": (make_ptbxl_tree(samples / "ptbxl", workdir / "ptbxl_src", args.ptbxl_records),
                      lambda stem: str(int(stem.split("_")[0]))),
            "georgia": (make_georgia_tree(samples / "georgia", workdir / "georgia_src", args.georgia_records),
                        lambda stem: stem),
        }
        for dataset, (tree, id_of_stem) in trees.items():
            print(f"building {dataset} ...", flush=True)
            load_before = os.getloadavg()[0]
            built = run_build(dataset, tree, workdir / "out")
            built["load_average_1min_before"] = round(load_before, 2)
            print(f"  {built['records_written']} records in {built['seconds']} s; plain converter ...", flush=True)
            headers = sorted(tree.rglob("*.hea"))[: args.plain_records]
            plain_rate, plain = plain_convert(headers, workdir / f"{dataset}_plain.tfrecord")
            built["plain_records_per_s"] = round(plain_rate, 1)
            built["plain_records_measured"] = len(headers)
            built["speedup_vs_plain"] = round(built["records_per_s"] / plain_rate, 2)
            built["max_abs_difference_vs_scipy_mv"] = max_difference_to_plain(
                workdir / "out" / dataset, dict(list(plain.items())[:200]), id_of_stem)
            results["datasets"][dataset] = built
            print(json.dumps({dataset: built}, indent=2), flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    ptbxl = results["datasets"]["ptbxl"]
    results["targets_met"] = {
        "ptbxl_seconds": ptbxl["seconds"] < TARGETS["ptbxl_seconds"],
        "speedup_vs_plain": ptbxl["speedup_vs_plain"] >= TARGETS["speedup_vs_plain"],
        "peak_memory_gib": all(d["peak_memory_gib"] < TARGETS["peak_memory_gib"]
                               for d in results["datasets"].values()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
