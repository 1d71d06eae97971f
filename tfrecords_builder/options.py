"""The builder's options, defined once: what decides a build's bytes and how a build runs.

:class:`BuildOptions` holds every option that decides the bytes of a build (the manifest
records it, a re-run compares it); :class:`RunOptions` how a build runs (where it writes,
workers, progress). Their fields' metadata generate ``python -m tfrecords_builder``'s flags
(:mod:`tfrecords_builder.flags`), ``build_dataset``'s keyword arguments are these fields,
and a study plan's ``[build]`` keys are :data:`SETTINGS` plus the readers' own options.

Example:
    >>> options = BuildOptions("ptbxl", "/data/ptbxl", rate=500)
    >>> options.samples, options.recorded()["nan_policy"], "pad_to" in options.recorded()
    (5000, 'drop', False)
    >>> SETTINGS[:3]
    ('split', 'seed', 'shard_size')
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math

from tfrecords_builder.flags import flag_fields, option
from tfrecords_builder.signal import (DEFAULT_RESAMPLE, NAN_POLICIES, RESAMPLERS, TARGET_FS,
                                      TARGET_SECONDS, target_samples)
from tfrecords_builder.split import SPLIT_POLICIES

DEFAULT_SHARD_SIZE = 2048


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """Everything that decides the bytes of a build (recorded in the manifest, compared on
    re-runs); validated on creation.

    Attributes:
        dataset: the reader's name (``ptbxl``, ..., ``folder``).
        source: the release folder (resolved once the build starts).
        split: ``random`` (patient-wise, 33% test), ``strat_fold`` (PTB-XL's folds, fold 10
            is test) or ``given`` (the labels table's split column); None: the dataset's own.
        seed: seed of the random split and of the patient folds.
        shard_size: records per shard.
        nan_policy: ``drop`` records with non-finite samples, or repair them
            (``interpolate``, ``zero``).
        keep_unlabeled: keep records with none of the study's labels (all-zero labels).
        reader_options: the dataset reader's own options, its defaults filled in.
        resample: ``poly`` (scipy's anti-aliasing ``resample_poly``) or ``decimate``
            (every q-th sample, no filter: the study's code; rates must be q x ``rate``).
        drop_flagged: drop records a suspicious-signal check flags instead of listing them.
        rate: the examples' sampling rate, Hz (records are resampled to it, never up).
        seconds: the examples' duration (records shorter are dropped, longer cropped).
        pad_to: zero-pad each example to this many samples, equally before and after;
            None: ``rate x seconds`` samples.
    """

    dataset: str = option(cli=False)
    source: str = option(help="the release folder, as downloaded", setting=False)
    split: str | None = option(
        None, "random: patient-wise, 33% test; strat_fold: PTB-XL's folds, fold 10 is test; "
        "given: the labels table's split column (default: strat_fold for ptbxl, given for a "
        "folder whose table has a split column, random otherwise)",
        flag="--split-policy", aliases=("--split",), choices=SPLIT_POLICIES)
    seed: int = option(0, "seed of the random split and folds")
    shard_size: int = option(DEFAULT_SHARD_SIZE, "records per shard")
    nan_policy: str = option(
        "drop", "records with NaN/inf samples: drop them, or repair by linear interpolation "
        "per lead or by zeros", choices=NAN_POLICIES)
    keep_unlabeled: bool = option(
        False, "keep records with none of the study's labels (ptb: other diagnoses) with "
        "all-zero labels", aliases=("--keep-other",))
    reader_options: dict = option(default_factory=dict, cli=False)
    resample: str = option(
        DEFAULT_RESAMPLE, "poly: scipy's anti-aliasing resample_poly; decimate: every q-th "
        "sample of a q x 100 Hz record, no filter (the study's code)", choices=RESAMPLERS)
    drop_flagged: bool = option(
        False, "drop records a suspicious-signal check flags (flat lead, amplitude beyond "
        "+-20 mV, identical leads) instead of only listing them")
    rate: int = option(
        TARGET_FS, "sampling rate of the examples (e.g. 500 for ECGFounder, 400 for Ribeiro "
        "et al.); records are never upsampled", metavar="HZ")
    seconds: float = option(TARGET_SECONDS, "duration of the examples", metavar="S")
    pad_to: int | None = option(
        None, "zero-pad each example to N samples, equally before and after (Ribeiro et al.: "
        "--rate 400 --pad-to 4096)", metavar="N")

    def __post_init__(self):
        if self.split is not None and self.split not in SPLIT_POLICIES:
            raise ValueError(f"split must be one of {SPLIT_POLICIES}, got {self.split!r}")
        if self.nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {self.nan_policy!r}")
        if self.resample not in RESAMPLERS:
            raise ValueError(f"resample must be one of {RESAMPLERS}, got {self.resample!r}")
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")
        self.samples  # a ValueError naming a bad rate, duration or pad

    @property
    def samples(self) -> int:
        """Samples of each example (``rate x seconds``, or ``pad_to``)."""
        return target_samples(self.rate, self.seconds, self.pad_to)

    def recorded(self) -> dict:
        """The options as the manifest stores and a re-run compares them; ``rate``, ``seconds``
        and ``pad_to`` only when not the defaults, so a default build's manifest is as before."""
        options = dataclasses.asdict(self)
        for name, default in SHAPE_DEFAULTS.items():
            if options[name] == default:
                del options[name]
        return json.loads(json.dumps(options))


#: The example-shape options and their defaults (left out of a default build's manifest).
SHAPE_DEFAULTS = {field.name: field.default for field in dataclasses.fields(BuildOptions)
                  if field.name in ("rate", "seconds", "pad_to")}
#: The options that decide a build's bytes besides its dataset, source and reader options
#: (the keys a study plan's ``[build]`` table may require, with the readers' own).
SETTINGS = tuple(field.name for field in flag_fields(BuildOptions)
                 if field.metadata.get("setting", True))


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a build runs (never recorded: the same build's bytes whatever they are)."""

    out: str = option(help="output root; the dataset goes to OUT/DATASET")
    overwrite: bool = option(False, "rebuild a finished output")
    strict: bool = option(False, "fail instead of skipping a record")
    workers: int | None = option(None, "worker processes (default: all cores)")
    progress: bool = option(True, "hide the progress bar", flag="--no-progress")


def input_flags(rate: float, samples: int, pad_to: int | None = None) -> str:
    """The builder flags that make examples of ``samples`` samples at ``rate`` Hz: what a
    model with that input reads (``--pad-to``: zero-padded to it, whole seconds of signal).

    Example:
        >>> input_flags(500, 5000), input_flags(400, 4096, pad_to=4096)
        ('--rate 500 --seconds 10', '--rate 400 --seconds 10 --pad-to 4096')
    """
    seconds = math.floor(samples / rate) if pad_to else samples / rate
    return f"--rate {rate:g} --seconds {seconds:g}" + (f" --pad-to {pad_to}" if pad_to else "")


def setting_defaults() -> dict:
    """Each of :data:`SETTINGS` with its default, as a build made without it has it.

    Example:
        >>> setting_defaults()["resample"], setting_defaults()["split"]
        ('poly', None)
    """
    return {field.name: field.default for field in dataclasses.fields(BuildOptions)
            if field.name in SETTINGS}


def reader_option_defaults(reader_class) -> dict:
    """A reader's own keyword options (its ``__init__``'s, after ``source``) with defaults.

    Example:
        >>> from tfrecords_builder.readers import get_reader
        >>> reader_option_defaults(get_reader("ptbxl"))
        {'sampling_rate': 100}
    """
    parameters = list(inspect.signature(reader_class.__init__).parameters.values())[2:]
    return {parameter.name: parameter.default for parameter in parameters}
