"""The builder's speed before and after a change, side by side, on a full-size PTB-XL-shaped tree.

Makes the PTB-XL-shaped tree of ``bench_builder.py`` (21,799 records at 100 Hz, the real
sample records repeated under new ids and patients), extracts the builder of a baseline
commit (``--baseline``, default: the builder before issue 22's speed work) with
``git archive``, and builds the tree with the baseline and with this checkout alternately,
``--repeats`` times each, every build a fresh ``python -m tfrecords_builder`` process with the
default workers (all cores). Per build: wall seconds (process start to exit, imports
included), CPU seconds of the process and its workers, records/s. Then checks that every
shard of every build has the same SHA-256 (the baseline's bytes). Alternating keeps slow
spells of a shared machine from landing on one side only; compare the minimum and median.

Run: ``python bench/bench_builder_speed.py --out bench/results/builder_speed.json``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "bench"))
from cpuinfo import cpu_model_and_flags  # noqa: E402
from bench_builder import PTBXL_RECORDS, _default_samples, make_ptbxl_tree  # noqa: E402

#: The last commit before issue 22's builder speed work.
BASELINE = "f2df247"
TARGET_SECONDS = 10.0
TARGET_RECORDS_PER_S = 2200.0
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "sha_ni", "sse4_2")


def machine() -> dict:
    """CPU model, core count, the CPU flags that matter here, Python and platform."""
    model, flags = cpu_model_and_flags(CPU_FLAGS)
    return {"cpu_model": model, "cpus": os.cpu_count(), "cpu_flags": flags,
            "platform": platform.platform(), "python": platform.python_version()}


def extract_baseline(ref: str, into: Path) -> Path:
    """The ``tfrecords_builder`` package of commit ``ref`` under ``into`` (an importable root)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", ref, "tfrecords_builder"], cwd=PROJECT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def timed_build(code_root: Path, source: Path, out: Path) -> dict:
    """One build in a fresh process whose ``tfrecords_builder`` is the one under ``code_root``."""
    environment = {**os.environ, "PYTHONPATH": str(code_root)}
    command = [sys.executable, "-m", "tfrecords_builder", "ptbxl", "--source", str(source),
               "--out", str(out), "--no-progress", "--overwrite"]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=code_root, env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode:
        raise RuntimeError(f"build with {code_root} failed:\n{result.stdout}{result.stderr}")
    manifest = json.loads((out / "ptbxl" / "manifest.json").read_text())
    written = sum(split["records"] for split in manifest["splits"].values())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "records_written": written, "records_per_s": round(written / seconds, 1),
            "load_average_1min_before": round(load, 2),
            "shards": shard_digests(out / "ptbxl")}


def shard_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every shard file, read back from disk."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.glob("*.tfrecord"))}


def summary(builds: list[dict]) -> dict:
    seconds = [build["seconds"] for build in builds]
    cpu = [build["cpu_seconds"] for build in builds]
    written = builds[0]["records_written"]
    return {"seconds": seconds, "cpu_seconds": cpu,
            "load_average_1min_before": [build["load_average_1min_before"] for build in builds],
            "min_seconds": min(seconds), "median_seconds": statistics.median(seconds),
            "median_cpu_seconds": statistics.median(cpu),
            "best_records_per_s": round(written / min(seconds), 1),
            "median_records_per_s": round(written / statistics.median(seconds), 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(PROJECT / "bench" / "results" / "builder_speed.json"))
    parser.add_argument("--baseline", default=BASELINE, help="git commit of the 'before' builder")
    parser.add_argument("--repeats", type=int, default=3, help="builds per side (alternating)")
    parser.add_argument("--records", type=int, default=PTBXL_RECORDS)
    parser.add_argument("--samples", default=None, help="folder with ptbxl/ real samples")
    parser.add_argument("--workdir", default=None,
                        help="where the tree goes (default: a temp folder, removed)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ecg_bench_speed_"))
    samples = Path(args.samples) if args.samples else _default_samples()
    sides = {"before": None, "after": PROJECT}
    builds: dict[str, list[dict]] = {side: [] for side in sides}
    try:
        source = workdir / "ptbxl_src"
        if not (source / "ptbxl_database.csv").is_file():
            make_ptbxl_tree(samples / "ptbxl", source, args.records)
        sides["before"] = extract_baseline(args.baseline, workdir / "baseline")
        for repeat in range(args.repeats):
            for side, code_root in sides.items():
                build = timed_build(code_root, source, workdir / f"out_{side}")
                builds[side].append(build)
                print(f"round {repeat + 1} {side}: {build['seconds']} s wall, "
                      f"{build['cpu_seconds']} s CPU, load {build['load_average_1min_before']}",
                      flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    reference = builds["before"][0]["shards"]
    identical = all(build["shards"] == reference for side in builds.values() for build in side)
    results = {
        "machine": machine(),
        "note": ("measured side by side, alternating, on a machine shared with other jobs; "
                 "compare the two sides of one run, and re-run in a quiet window for absolute "
                 "figures"),
        "dataset": "ptbxl-shaped", "source_records": args.records,
        "records_written": builds["after"][0]["records_written"],
        "baseline_commit": args.baseline, "repeats": args.repeats,
        "targets": {"seconds": TARGET_SECONDS, "records_per_s": TARGET_RECORDS_PER_S},
        "before": summary(builds["before"]), "after": summary(builds["after"]),
        "shard_sha256_identical": identical,
        "shard_sha256": reference,
    }
    results["speedup_median"] = round(results["before"]["median_seconds"]
                                      / results["after"]["median_seconds"], 2)
    results["cpu_ratio_median"] = round(results["after"]["median_cpu_seconds"]
                                        / results["before"]["median_cpu_seconds"], 2)
    results["targets_met"] = {
        "seconds": results["after"]["min_seconds"] < TARGET_SECONDS,
        "records_per_s": results["after"]["best_records_per_s"] >= TARGET_RECORDS_PER_S,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({key: results[key] for key in ("before", "after", "speedup_median",
                                                    "shard_sha256_identical")}, indent=2))
    print(f"wrote {args.out}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
