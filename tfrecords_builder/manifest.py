"""The manifest of a built dataset (``OUT/NAME/manifest.json``) as one typed dataclass.

The builder writes it (:func:`write_manifest`) and every reader of a built dataset reads
it through :class:`Manifest` (``ecg_tl_keras.built.BuiltDataset.manifest``). Each field's
documentation is written once, in its metadata; the README's key table is
:func:`markdown_table`'s output (a test keeps them equal). Keys this version does not
know (a newer build's, a user's) are kept in :attr:`Manifest.extra` and written back
unchanged. The format is versioned (``manifest_version``): a manifest without the key is
format 1 and opens the same way, its missing keys taking the value older builds used.
Adding a key is one field line below. No TensorFlow here.

Example:
    >>> manifest = Manifest.from_dict({"labels": ["AF"], "samples": 1000, "leads": ["I"],
    ...                                "splits": {"train": {"records": 3}}, "mine": 1})
    >>> manifest.manifest_version, manifest.resample, manifest.input_shape, manifest.extra
    (1, 'poly', (1000, 1), {'mine': 1})
    >>> manifest.to_dict()["mine"], manifest.records("train")
    (1, 3)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

from tfrecords_builder.files import write_json_atomic
from tfrecords_builder.layout import MANIFEST
from tfrecords_builder.signal import DEFAULT_RESAMPLE

#: The format this version writes; 1 is every manifest written before the key existed.
MANIFEST_VERSION = 2
BUILD_HINT = "python -m tfrecords_builder DATASET --source DIR --out OUT"


def _key(doc: str, default: Any = None, *, required: bool = False,
         only_if_set: bool = False) -> Any:
    """A manifest field: its README text, and the value a manifest lacking it gets.

    ``only_if_set``: written only when it differs from ``default`` (a default build's
    manifest then stays as it was before the key existed).
    """
    metadata = {"doc": doc, "required": required, "only_if_set": only_if_set}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class Manifest(Mapping):
    """A built dataset's manifest: one attribute per key, in the order written.

    It is also a read-only mapping of the keys as written (``manifest["labels"]``,
    ``manifest.get("fs")``), for code that reads the JSON by key.
    """

    manifest_version: int = _key(
        f"format of this file ({MANIFEST_VERSION}; a manifest without it is format 1 and "
        "opens the same way)", 1)
    dataset: str | None = _key("the dataset name (the output folder's name)")
    builder_version: str | None = _key("version of the builder that wrote it")
    source: str | None = _key("the source folder the build read")
    release_format: str | None = _key(
        "the release's format as detected, e.g. `ptbxl-wfdb-100hz`, `cpsc2018-original`, "
        "`cinc-wfdb`, `folder`")
    labels: list = _key("label names, in the order of each example's multi-hot `labels`",
                        required=True)
    label_codes: dict = _key("label -> the source codes mapped to it", {})
    fs: float | None = _key("sampling rate of the stored signals, Hz (100)")
    samples: int = _key("samples per record (1000)", required=True)
    seconds: float | None = _key("seconds per record, when a build asked for other than 10 "
                                 "(`--seconds`; absent: 10)", only_if_set=True)
    pad_to: int | None = _key("samples each record was padded to (`--pad-to`; absent: none)",
                              only_if_set=True)
    leads: list = _key("lead names, in the order of each signal's columns", required=True)
    lead_map: dict = _key("the `--lead-map` of a `folder` build (`{}` otherwise)", {})
    assume_units: str | None = _key("`--assume-units` of the build, or null")
    ignored_channels: list = _key("channels present but not requested: `name`, `unit`, `count`",
                                  [])
    unit: str | None = _key("unit of the stored signals (`mV`)")
    signal_dtype: str | None = _key("dtype of the stored signals (`float32`)")
    signal_layout: str | None = _key("layout of the stored signals (`samples x leads, "
                                     "row-major`)")
    splits: dict = _key(
        "per split (`train`, `test`): `records`, `patients`, `label_counts`, `shards` with each "
        "shard's `file`, `records` and `sha256`", required=True)
    dropped: list = _key("records left out: `record_id`, `reason`, `reason_class`", [])
    flags: list = _key("suspicious-signal flags: `record_id`, `check`, `value`", [])
    unknown_codes: dict = _key("source code -> number of records carrying it, for codes that "
                               "map to no label", {})
    split_policy: dict = _key("`policy`, `seed`, `test_size`, `folds` (the fold rule)", {})
    seed: int | None = _key("seed of the split and folds")
    normalization: dict | None = _key("per-lead `mean` and `std` over the train split")
    nan_policy: str | None = _key("what was done with missing samples (`drop`, `interpolate`, "
                                  "`zero`)")
    resample: str = _key("resampler to 100 Hz, `poly` or `decimate` (`poly` when absent: "
                         "builds before the option)", DEFAULT_RESAMPLE)
    build_options: dict = _key("every option of the build, as given to `build_dataset`", {})
    source_fingerprint: str | None = _key(
        "sha256 of the input files' paths, sizes and modification times (files named like a "
        "build's own output are left out, so a build may be written inside its source)")
    extra: dict = dataclasses.field(default_factory=dict, repr=False,
                                    metadata={"doc": None, "required": False,
                                              "only_if_set": False})

    @classmethod
    def from_dict(cls, values: Mapping, where: str | os.PathLike = MANIFEST) -> "Manifest":
        """A manifest from its JSON object; unknown keys go to :attr:`extra`.

        Raises:
            ValueError: ``where`` lacks a required key, or is of a newer format than
                this version reads.
        """
        if not isinstance(values, Mapping):
            raise ValueError(f"{where} is not a JSON object: rebuild it with {BUILD_HINT}")
        missing = [field.name for field in _keys() if field.metadata["required"]
                   and field.name not in values]
        if missing:
            raise ValueError(f"{where} lacks required keys {missing}: rebuild it with "
                             f"{BUILD_HINT}")
        version = values.get("manifest_version", 1)
        if not isinstance(version, int) or version > MANIFEST_VERSION:
            raise ValueError(f"{where} has manifest format {version!r}; this version reads "
                             f"formats up to {MANIFEST_VERSION}: upgrade ecg-tl-keras")
        known = {field.name for field in _keys()}
        return cls(**{key: value for key, value in values.items() if key in known},
                   extra={key: value for key, value in values.items() if key not in known})

    @classmethod
    def read(cls, data_dir: str | os.PathLike) -> "Manifest":
        """Reads and checks ``<data_dir>/manifest.json``.

        Raises:
            FileNotFoundError: no manifest (the message says how to build one).
            ValueError: not valid JSON, a required key missing, or a newer format.
        """
        path = Path(data_dir) / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: build it with {BUILD_HINT}")
        try:
            values = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
        return cls.from_dict(values, where=path)

    def to_dict(self) -> dict:
        """The JSON object: the known keys in field order, then the unknown ones."""
        values = {field.name: getattr(self, field.name) for field in _keys()
                  if not (field.metadata["only_if_set"]
                          and getattr(self, field.name) == field.default)}
        return {**values, **self.extra}

    @property
    def input_shape(self) -> tuple[int, int]:
        """``(samples, leads)`` of the stored signals."""
        return int(self.samples), len(self.leads)

    def records(self, split: str) -> int:
        """The number of records of a split.

        Raises:
            ValueError: the manifest gives no record count for ``split``.
        """
        try:
            return int(self.splits[split]["records"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"the manifest gives no record count for split {split!r}: "
                             f"rebuild it with {BUILD_HINT}") from None

    # The read-only mapping of the keys as written.
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __eq__(self, other) -> bool:
        if isinstance(other, Manifest):
            return self.to_dict() == other.to_dict()
        return NotImplemented

    __hash__ = None


def _keys() -> list[dataclasses.Field]:
    """The documented keys (every field but :attr:`Manifest.extra`)."""
    return [field for field in dataclasses.fields(Manifest) if field.name != "extra"]


def write_manifest(out_dir: str | os.PathLike, values: Mapping) -> dict:
    """Writes ``<out_dir>/manifest.json`` atomically, in the current format.

    Args:
        out_dir: the dataset's output folder.
        values: the manifest's keys (a dict or a :class:`Manifest`); unknown ones are kept.

    Returns:
        The JSON object written.

    Raises:
        ValueError: a required key is missing.
    """
    manifest = Manifest.from_dict({**values, "manifest_version": MANIFEST_VERSION},
                                  where=Path(out_dir) / MANIFEST)
    written = manifest.to_dict()
    write_json_atomic(Path(out_dir) / MANIFEST, written)
    return written


def markdown_table() -> str:
    """The README's table of manifest keys: one row per field, from its documentation.

    Example:
        >>> markdown_table().splitlines()[4]
        '| `builder_version` | version of the builder that wrote it |'
    """
    rows = ["| key | what it holds |", "| --- | --- |"]
    rows += [f"| `{field.name}` | {field.metadata['doc']} |" for field in _keys()]
    return "\n".join(rows)
