"""Build one dataset: read, condition, split patient-wise, write shards and the manifest.

Example:
>>> from tfrecords_builder import build_dataset
>>> manifest = build_dataset("ptbxl", "ecg_tl_keras/sample_data/ptbxl", "/tmp/out",
...                          progress=False)  # doctest: +SKIP
>>> manifest["labels"]  # doctest: +SKIP
['NORM', 'MI', 'STTC', 'CD', 'HYP']
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np

from tfrecords_builder.checks import signal_flags
from tfrecords_builder.fingerprint import source_fingerprint
from tfrecords_builder.pool import WorkerDied, imap_ordered
from tfrecords_builder.readers import RecordRef, SourceError, get_reader
from tfrecords_builder.signal import (
    DEFAULT_RESAMPLE, STANDARD_LEADS, TARGET_FS, TARGET_SAMPLES, TARGET_SECONDS, UNIT,
    RecordRejected, SignalConditioner)
from tfrecords_builder.layout import MANIFEST, is_build_output, remove_partial_output
from tfrecords_builder.manifest import write_manifest
from tfrecords_builder.options import (DEFAULT_SHARD_SIZE, SHAPE_DEFAULTS, BuildOptions,
                                       reader_option_defaults)
from tfrecords_builder.split import TEST_SIZE, assign_splits, check_patient_disjoint
from tfrecords_builder.tfrecord import frame, serialize_example
from tfrecords_builder.errors import HeaderError
from tfrecords_builder.writer import ShardedWriter

BUILDER_VERSION = "0.2.0"
SPLITS = ("train", "test")
#: Seconds read from each record beyond the example's: room for the resampling filter's tail.
READ_MARGIN_SECONDS = 0.5
READ_SECONDS = TARGET_SECONDS + READ_MARGIN_SECONDS
#: Below this many records a build runs in-process (starting workers costs more).
MIN_RECORDS_FOR_WORKERS = 400


class BuildError(RuntimeError):
    """A build that cannot go on; the message says why and names the file or record."""


# ---------------------------------------------------------------- per-record work

@dataclasses.dataclass(frozen=True)
class Job:
    """A record to convert, with what its example carries besides the signal."""

    ref: RecordRef
    labels: np.ndarray
    fold: int


@dataclasses.dataclass(frozen=True)
class Converted:
    """A converted record: its framed TFRecord, per-lead sums of the signal and its square,
    its suspicious-signal flags (``[(check, value), ...]``) and the channels it did not read
    (``((name, unit), ...)``)."""

    record: bytes
    lead_sum: np.ndarray
    lead_sum_sq: np.ndarray
    flags: list
    ignored: tuple = ()


_WORKER: dict = {}


def _init_worker(reader, jobs, options):
    _WORKER.update(reader=reader, jobs=jobs, options=options, conditioners={})


def _convert(index: int):
    """Read, condition, check, encode and frame job ``index``.

    Returns:
        ``(index, Converted or None, reason or None)``.
    """
    job: Job = _WORKER["jobs"][index]
    try:
        options = _WORKER["options"]
        raw = _WORKER["reader"].read_signal(job.ref, options.seconds + READ_MARGIN_SECONDS)
        conditioners = _WORKER["conditioners"]
        if raw.fs not in conditioners:
            conditioners[raw.fs] = SignalConditioner(
                raw.fs, options.nan_policy, _WORKER["reader"].leads, options.resample,
                rate=options.rate, seconds=options.seconds, pad_to=options.pad_to)
        signal = conditioners[raw.fs](raw.data, raw.lead_names)
        flags = signal_flags(signal, _WORKER["reader"].leads)
    except (HeaderError, OSError) as error:  # their messages start with the file
        return index, None, str(error)
    except RecordRejected as error:
        return index, None, f"{_WORKER['reader'].describe(job.ref)}: {error}"
    except Exception as error:  # noqa: BLE001 - a record must never stop the build with a traceback
        return index, None, (f"{_WORKER['reader'].describe(job.ref)}: unreadable "
                             f"({type(error).__name__}: {error})")
    example = serialize_example(signal, job.labels, job.ref.record_id, job.ref.patient_id, job.fold)
    as_double = signal.astype(np.float64)
    return index, Converted(frame(example), as_double.sum(axis=0),
                            np.einsum("ij,ij->j", as_double, as_double), flags,
                            tuple(raw.ignored)), None


def _converted_records(reader, jobs, options, workers):
    """Yield ``(index, Converted or None, reason)`` for every job, in order, using worker processes.

    Raises:
        BuildError: a worker process died (e.g. killed for memory); the message names its record.
    """
    if len(jobs) < MIN_RECORDS_FOR_WORKERS:
        workers = 0
    try:
        yield from imap_ordered(_convert, len(jobs), workers=workers if workers > 1 else 0,
                                initializer=_init_worker, initargs=(reader, jobs, options))
    except WorkerDied as error:
        ref = jobs[error.index].ref
        raise BuildError(f"{error} while converting record {ref.record_id} "
                         f"({reader.source / ref.location}); "
                         f"nothing was written. If it ran out of memory, retry with fewer --workers"
                         ) from None


# ---------------------------------------------------------------- accumulation

class SplitStats:
    """Counts of a split, and per-lead sums for the normalization statistics."""

    def __init__(self, label_names, n_leads=len(STANDARD_LEADS), samples=TARGET_SAMPLES):
        self.label_names = label_names
        self.samples = samples
        self.records = 0
        self.patients: set[str] = set()
        self.label_counts = np.zeros(len(label_names), dtype=np.int64)
        self.lead_sum = np.zeros(n_leads)
        self.lead_sum_sq = np.zeros(n_leads)

    def add(self, job: Job, converted: Converted) -> None:
        self.records += 1
        self.patients.add(job.ref.patient_id)
        self.label_counts += job.labels
        self.lead_sum += converted.lead_sum
        self.lead_sum_sq += converted.lead_sum_sq

    def normalization(self) -> dict:
        count = max(self.records * self.samples, 1)
        mean = self.lead_sum / count
        std = np.sqrt(np.maximum(self.lead_sum_sq / count - np.square(mean), 0.0))
        return {"mean": mean.tolist(), "std": std.tolist()}

    def summary(self) -> dict:
        return {"records": self.records, "patients": len(self.patients),
                "label_counts": dict(zip(self.label_names, self.label_counts.tolist()))}


def multi_hot(labels: tuple[str, ...], label_names: tuple[str, ...]) -> np.ndarray:
    return np.array([name in labels for name in label_names], dtype=np.int64)


# ---------------------------------------------------------------- the build

def _existing_build(out_dir: Path, options: BuildOptions, fingerprint: str) -> dict | None:
    """The finished manifest when this exact build is already done, from inputs in the same
    state (``fingerprint``); an error if built differently or from inputs changed since."""
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError:
        raise BuildError(
            f"{manifest_path}: unreadable manifest; rebuild with --overwrite") from None
    if manifest.get("build_options") != options.recorded():
        raise BuildError(f"{out_dir} already holds a build with other options; "
                         f"use --overwrite to rebuild it")
    # Builds written before the fingerprint existed have none: they are taken as they are.
    if manifest.get("source_fingerprint", fingerprint) != fingerprint:
        raise BuildError(f"{out_dir} was built from {options.source} as it was then; files there "
                         f"(or the label table it names) have changed, been added or removed since: "
                         f"use --overwrite to rebuild it")
    return manifest


def _complete_reader_options(reader_class, given: dict) -> dict:
    """The reader's keyword options with its defaults filled in, JSON-normalized (None = default)."""
    known = reader_option_defaults(reader_class)
    unknown = set(given) - set(known)
    if unknown:
        raise ValueError(f"{reader_class.name} has no option(s) {', '.join(sorted(unknown))}; "
                         f"its options: {', '.join(known) or 'none'}")
    options = {name: default if given.get(name) is None else given[name]
               for name, default in known.items()}
    return json.loads(json.dumps(options, default=str))


def _select_labeled(refs, keep_unlabeled):
    kept, dropped = [], []
    for ref in refs:
        if ref.labels or keep_unlabeled:
            kept.append(ref)
        else:
            dropped.append({"record_id": ref.record_id,
                            "reason": "no label among the study's labels"})
    return kept, dropped


def _fail_if_strict(strict: bool, dropped: list[dict]) -> None:
    if strict and dropped:
        first = dropped[0]
        raise BuildError(f"--strict: record {first['record_id']} skipped: {first['reason']} "
                         f"({len(dropped)} record(s) skipped so far)")


def build_dataset(dataset: str, source: str | os.PathLike, out: str | os.PathLike, *,
                  split: str | None = None, seed: int = 0, overwrite: bool = False,
                  strict: bool = False, workers: int | None = None,
                  shard_size: int = DEFAULT_SHARD_SIZE, nan_policy: str = "drop",
                  keep_unlabeled: bool = False, drop_flagged: bool = False, progress: bool = True,
                  log: Callable[[str], None] = print, resample: str = DEFAULT_RESAMPLE,
                  rate: int = TARGET_FS, seconds: float = TARGET_SECONDS,
                  pad_to: int | None = None, **reader_options) -> dict:
    """Convert one public release into ``out/<dataset>/`` shards plus ``manifest.json``.

    The keyword options are the fields of :class:`~tfrecords_builder.options.BuildOptions`
    (what decides the bytes: documented there) and of
    :class:`~tfrecords_builder.options.RunOptions` (``overwrite``, ``strict``, ``workers``,
    ``progress``), with their defaults; the command line's flags are generated from the same
    fields.

    Args:
        dataset: ``ptbxl``, ``cpsc2018``, ``georgia``, ``ptb``, ``ribeiro`` or ``folder``.
        source: the release folder, as downloaded.
        out: output root; the dataset goes to ``out/<dataset>``.
        split: ``random``, ``strat_fold`` or ``given``; None: the dataset's own.
        overwrite: rebuild even if a finished build is there.
        strict: fail on the first record that would be skipped.
        workers: worker processes (default: all cores).
        progress: show a progress bar.
        log: where the summary lines go.
        **reader_options: the dataset reader's own options.

    Returns:
        The manifest, as written.

    Raises:
        ValueError: an invalid option (``BuildOptions`` validates them), or a bad source.
    """
    reader_class = get_reader(dataset)
    options = BuildOptions(dataset, str(source), split, seed, shard_size, nan_policy,
                           keep_unlabeled, resample=resample, drop_flagged=drop_flagged,
                           rate=rate, seconds=seconds, pad_to=pad_to)  # validated here
    try:
        resolved = Path(source).resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python < 3.13)
        raise SourceError(f"{source}: cannot resolve the source folder ({error})") from None
    complete_options = _complete_reader_options(reader_class, reader_options)
    reader = reader_class(source, **complete_options)
    options = dataclasses.replace(options, source=str(resolved),
                                  split=split or reader.default_split,
                                  reader_options=complete_options)
    out_dir = Path(out) / reader.dataset_name
    fingerprint = source_fingerprint(reader.input_paths(), skip=is_build_output)
    if not overwrite:
        finished = _existing_build(out_dir, options, fingerprint)
        if finished is not None:
            log(f"{out_dir}: already built ({_counts_line(finished)}); nothing to do "
                f"(use --overwrite to rebuild)")
            return finished
    started = time.perf_counter()
    refs, dropped = _unique_records(reader.records())
    dropped = reader.skipped + dropped
    refs, unlabeled = _select_labeled(refs, keep_unlabeled or reader.labels_are_complete)
    dropped += unlabeled
    if not refs:
        raise BuildError(f"{source}: none of its {len(dropped)} record(s) can be used "
                         f"({_reason_summary(dropped)}); is this the {dataset} release?")
    _fail_if_strict(strict, dropped)
    assignment = assign_splits(refs, options.split, seed, _test_size(reader))
    check_patient_disjoint(refs, assignment)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    remove_partial_output(out_dir)
    try:
        workers = (os.cpu_count() or 1) if workers is None else workers
        splits, flags, ignored = _write_shards(reader, refs, assignment, out_dir, options, strict,
                                               dropped, workers, progress)
        if not any(split["records"] for split in splits.values()):
            raise BuildError(f"{source}: every record was dropped ({_reason_summary(dropped)}); "
                             f"nothing written")
        elapsed = time.perf_counter() - started
        manifest = _manifest(reader, options, splits, _with_reason_class(dropped), flags,
                             ignored, fingerprint)
        manifest = write_manifest(out_dir, manifest)
    except BaseException:
        remove_partial_output(out_dir)  # nothing half-written stays behind
        raise
    written = sum(entry["records"] for entry in manifest["splits"].values())
    rate = written / max(elapsed, 1e-9)
    log(f"{out_dir}: {_counts_line(manifest)}; {elapsed:.1f} s, {rate:.0f} records/s")
    for count, example in _reason_groups(dropped):
        log(f"  dropped {count}: {example}" + (" (and similar)" if count > 1 else ""))
    what = "dropped" if drop_flagged else "kept; --drop-flagged drops them"
    for check, count in collections.Counter(flag["check"] for flag in flags).most_common():
        log(f"  flagged {count}: {check} ({what})")
    for warning in _emptied_splits(manifest["splits"], assignment, out_dir, dropped):
        log(warning)
    for label, count in manifest["splits"]["train"]["label_counts"].items():
        if count == 0:
            log(f"warning: label {label} has no positive record in the train split of {out_dir}; "
                f"a model cannot learn it")
    return manifest


def _test_size(reader) -> float:
    return TEST_SIZE if reader.test_size is None else reader.test_size


def _unique_records(refs: list[RecordRef]) -> tuple[list[RecordRef], list[dict]]:
    """Records whose id is unique; an id found several times with different contents (two
    folders, two table rows) is ambiguous and every copy is dropped. Exact repeats count once."""
    by_id: dict[str, list[RecordRef]] = collections.defaultdict(list)
    for ref in refs:
        if ref not in by_id[ref.record_id]:
            by_id[ref.record_id].append(ref)
    unique, dropped = [], []
    for record_id, copies in by_id.items():
        if len(copies) == 1:
            unique.append(copies[0])
            continue
        where = "; ".join(f"{ref.location} labels {','.join(ref.labels) or 'none'}"
                          for ref in copies)
        dropped.append({"record_id": record_id,
                        "reason": f"record id found {len(copies)} times with different contents "
                                  f"({where}); which one is meant is ambiguous"})
    return unique, dropped


def _reason_groups(dropped: list[dict]) -> list[tuple[int, str]]:
    """``(count, first reason)`` per reason class, most frequent first: the summary quotes a
    real reason (record ids, lead names and values as they are), never the class."""
    groups: dict[str, list[str]] = {}
    for entry in dropped:
        groups.setdefault(reason_class(entry["reason"]), []).append(entry["reason"])
    return sorted(((len(reasons), reasons[0]) for reasons in groups.values()),
                  key=lambda group: -group[0])


def _reason_summary(dropped: list[dict]) -> str:
    groups = _reason_groups(dropped)[:3]
    return "; ".join(f"{count} like {example!r}" for count, example in groups) or \
        "no records found"


_PATH_PREFIX = re.compile(r"^[^:;]*[/\\.][^:;]*: ")


def reason_class(reason: str) -> str:
    """The kind of a drop reason, for grouping: the leading file, details in parentheses and
    after ``;`` removed, numbers replaced by ``N``. Never shown in place of the reason.

    Example:
    >>> reason_class("data/100-no-len.hea: missing lead V5; record has II, ABP")
    'missing lead VN'
    >>> reason_class("too short: 8.00 s < 10 s")
    'too short: N s < N s'
    """
    text = _PATH_PREFIX.sub("", reason, count=1)
    text = re.sub(r"\s*\([^)]*\)", "", text).split(";")[0]
    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?|\b(inf|nan)\b", "N", text)


def _with_reason_class(dropped: list[dict]) -> list[dict]:
    return [{**entry, "reason_class": reason_class(entry["reason"])} for entry in dropped]


def _emptied_splits(splits: dict, assignment: dict, out_dir: Path,
                    dropped: list[dict]) -> list[str]:
    """A warning per split that was given records but holds none once they were dropped (the
    build is still written, as a build with a label missing from train is)."""
    warnings = []
    for name, entry in splits.items():
        planned = sum(1 for split, _ in assignment.values() if split == name)
        if planned and not entry["records"]:
            warnings.append(f"warning: the {name} split of {out_dir} is empty: all {planned} "
                            f"record(s) assigned to it were dropped ({_reason_summary(dropped)})")
    return warnings


def _ignored_channels(counts: collections.Counter) -> list[dict]:
    return [{"name": name, "unit": unit, "count": count}
            for (name, unit), count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def _counts_line(manifest: dict) -> str:
    parts = [f"{name} {entry['records']}" for name, entry in manifest["splits"].items()]
    return ", ".join(parts) + f", dropped {len(manifest['dropped'])}"


def _write_shards(reader, refs, assignment, out_dir, options, strict, dropped, workers, progress):
    from tqdm.auto import tqdm

    jobs = [Job(ref, multi_hot(ref.labels, reader.label_names),
                assignment[ref.record_id][1]) for ref in refs]
    writers = {name: ShardedWriter(out_dir, name, options.shard_size) for name in SPLITS}
    stats = {name: SplitStats(reader.label_names, len(reader.leads), options.samples)
             for name in SPLITS}
    flags = []
    ignored: collections.Counter = collections.Counter()
    converted_records = _converted_records(reader, jobs, options, workers)
    try:
        for index, converted, reason in tqdm(converted_records, total=len(jobs), disable=not progress,
                                             desc=out_dir.name, unit="rec"):
            job = jobs[index]
            if converted is not None and converted.flags:
                flags += [{"record_id": job.ref.record_id, "check": check, "value": value}
                          for check, value in converted.flags]
                if options.drop_flagged:
                    converted, reason = None, "flagged: " + "; ".join(
                        f"{check} {value}" for check, value in converted.flags)
            if converted is None:
                dropped.append({"record_id": job.ref.record_id, "reason": reason})
                _fail_if_strict(strict, dropped)
                continue
            split_name = assignment[job.ref.record_id][0]
            ignored.update(converted.ignored)
            writers[split_name].write(converted.record)
            stats[split_name].add(job, converted)
    finally:
        converted_records.close()
        for writer in writers.values():
            writer.close()
    return {name: {**stats[name].summary(), "shards": writers[name].finalize(),
                   "_normalization": stats[name].normalization()} for name in SPLITS}, flags, \
        _ignored_channels(ignored)


def _manifest(reader, options: BuildOptions, splits: dict, dropped: list[dict],
              flags: list[dict], ignored: list[dict], fingerprint: str) -> dict:
    normalization = splits["train"].pop("_normalization")
    splits["test"].pop("_normalization")
    return {
        "dataset": reader.dataset_name,
        "builder_version": BUILDER_VERSION,
        "source": options.source,
        "release_format": reader.release_format,
        "labels": list(reader.label_names),
        "label_codes": {label: list(reader.label_codes[label]) for label in reader.label_names},
        "fs": options.rate,
        "samples": options.samples,
        **{name: value for name, value in (("seconds", options.seconds),
                                           ("pad_to", options.pad_to))
           if value != SHAPE_DEFAULTS[name]},
        "leads": list(reader.leads),
        "lead_map": dict(reader.lead_map or {}),
        "assume_units": reader.assume_units,
        "ignored_channels": ignored,
        "unit": UNIT,
        "signal_dtype": "float32",
        "signal_layout": "samples x leads, row-major",
        "splits": splits,
        "dropped": dropped,
        "flags": flags,
        "unknown_codes": dict(reader.unknown_codes.most_common()),
        "split_policy": {"policy": options.split, "seed": options.seed,
                         "test_size": _test_size(reader) if options.split == "random" else None,
                         "folds": "strat_fold - 1" if options.split == "strat_fold" else
                         "10 seeded patient-wise folds (0-9)"},
        "seed": options.seed,
        "normalization": normalization,
        "nan_policy": options.nan_policy,
        "resample": options.resample,
        "build_options": options.recorded(),
        "source_fingerprint": fingerprint,
    }
