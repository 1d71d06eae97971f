"""Study plans: which datasets, models, seeds and settings the experiment grid covers.

A plan is a TOML (or YAML) file::

    description = "what this plan is for"          # optional
    upstream = ["ptbxl", "cpsc2018", "georgia"]     # pre-training datasets
    downstream = ["ptbxl", "cpsc2018", "georgia", "ptb", "ribeiro"]
    models = ["resnet1d18", "lstm"]
    seeds = [0]             # or an int N, meaning seeds 0 .. N-1
    epochs = 100
    finetune = "full"       # TrainConfig.finetune
    select_on = "val"       # TrainConfig.select_on: the split that picks the best epoch
    batch_size = 256
    lr = 0.01

    [train]                 # optional: any other TrainConfig field, passed as is
    head = "linear"         # or per model family: {cnn = "mlp", rnn = "linear"}

    [grid]                  # optional: run every model once per value (cell keys name it)
    readout = ["last", "flatten"]

    [build]                 # optional: builder options the datasets must be built with
    resample = "decimate"   # (checked against each manifest; per dataset: {ribeiro = true})
    keep_padding = {ribeiro = true}

    differs_from = "paper"  # optional: a plan whose differences the dry-run prints

    [size_sweep]            # optional: fine-tune vs scratch on downstream train subsets
    upstream = "georgia"
    downstream = "ptbxl"
    models = ["resnet1d18"]
    train_sizes = [500, 1000, 2000]

A ``[train]`` value given as a table keyed by model family (``get_backbone_spec(name).family``:
``cnn``, ``rnn``, ...) applies to the models of that family only; other models keep the
TrainConfig default. The built-in plans ``paper``, ``paper-faithful`` (the study exactly as
its code ran it), ``readout-ablation`` and ``smoke`` ship in ``ecg_tl_keras/study/plans``.

Datasets are the five public names (``ptbxl``, ``cpsc2018``, ``georgia``, ``ptb``,
``ribeiro``) or any dataset built under the data root (``DATA_ROOT/NAME/manifest.json``,
e.g. from ``python -m tfrecords_builder folder ... --name NAME --out DATA_ROOT``). Models
are any registered backbone, including your own (``ecg-tl-keras --import MODULE``).

Example:
    >>> plan = load_plan("smoke")
    >>> plan.models
    ('resnet1d18', 'lstm')
"""

from __future__ import annotations

import dataclasses
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from tfrecords_builder.layout import MANIFEST

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BUILTIN_PLANS = ("paper", "paper-faithful", "readout-ablation", "smoke")
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: The plan's top-level keys that are TrainConfig fields: TrainConfig checks their values, and
#: every cell of the plan carries them (``Cell.train``).
TRAIN_KEYS = ("epochs", "finetune", "select_on", "batch_size", "lr")
_REQUIRED = ("upstream", "downstream", "models", "seeds") + TRAIN_KEYS
_OPTIONAL = ("description", "train", "size_sweep", "grid", "build", "differs_from")
_SWEEP_KEYS = ("upstream", "downstream", "models", "train_sizes")
#: TrainConfig fields the runner sets per cell.
_PER_CELL_FIELDS = ("data", "model", "out", "finetune_from", "seed", "train_size")


@dataclasses.dataclass(frozen=True)
class SizeSweep:
    """Fine-tune vs scratch on downstream train subsets of several sizes."""

    upstream: str
    downstream: str
    models: tuple[str, ...]
    train_sizes: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated study plan (see the module docstring for the file format)."""

    name: str
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int
    finetune: str
    select_on: str
    batch_size: int
    lr: float
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    size_sweep: SizeSweep | None = None
    description: str = ""
    grid: Mapping[str, tuple] = dataclasses.field(default_factory=dict)
    build: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    differs_from: str = ""

    def train_for(self, model: str) -> dict:
        """The ``[train]`` options of one model, per-family tables resolved by its family.

        Example:
            >>> plan = load_plan("paper-faithful")
            >>> plan.train_for("lstm")["head"], plan.train_for("resnet1d18")["head"]
            ('linear', 'mlp')
        """
        return _for_key(self.train, _model_facts().model_family_of(model))

    def train_settings(self) -> dict:
        """The plan's top-level TrainConfig values (``TRAIN_KEYS``).

        Example:
            >>> load_plan("smoke").train_settings()["batch_size"]
            32
        """
        return {key: getattr(self, key) for key in TRAIN_KEYS}

    def build_for(self, dataset: str) -> dict:
        """The builder options ``[build]`` requires of one dataset (per-dataset tables resolved).

        Example:
            >>> load_plan("paper-faithful").build_for("ribeiro")["keep_padding"]
            True
        """
        return _for_key(self.build, dataset)

    def with_seeds(self, n_seeds: int) -> "Plan":
        """The same plan with seeds 0 .. n_seeds-1 (the ``--seeds N`` option)."""
        return dataclasses.replace(self, seeds=_seeds(n_seeds, "--seeds"))


def load_plan(spec: str | Path, data_root: str | Path | None = None,
              overrides: Sequence[str] = ()) -> Plan:
    """Load and validate a built-in plan by name, or a plan file.

    Args:
        spec: a name from ``BUILTIN_PLANS`` or the path of a ``.toml`` (or ``.yaml``) file.
        data_root: the folder of built datasets; names built there are valid datasets
            besides the public ones (see :func:`known_datasets`).
        overrides: ``KEY=VALUE`` strings (the ``--set`` option) applied before validation;
            VALUE is a TOML value (``epochs=1``, ``models=["gru"]``) and a dotted KEY
            reaches into a table (``train.val_fold=0``), e.g. to run a plan in miniature.

    Raises:
        ValueError: unknown plan, unreadable file, a bad override or an invalid plan (the
            message says which key).

    Example:
        >>> load_plan("paper").upstream
        ('ptbxl', 'cpsc2018', 'georgia')
        >>> load_plan("readout-ablation", overrides=["epochs=1", 'models=["gru"]']).models
        ('gru',)
    """
    if str(spec) in BUILTIN_PLANS:
        text = resources.files("ecg_tl_keras.study").joinpath(f"plans/{spec}.toml").read_text()
        data, name, where = _parse_toml(text, f"built-in plan {spec}"), str(spec), None
    else:
        path = Path(spec)
        if not path.is_file():
            raise ValueError(f"plan {spec!r} not found: expected {', '.join(BUILTIN_PLANS)}, "
                             "or the path of a .toml plan file")
        text = path.read_text()
        if path.suffix.lower() in (".yaml", ".yml"):
            data = _parse_yaml(text, str(path))
        else:
            data = _parse_toml(text, str(path))
        name, where = path.stem, str(path)
    for override in overrides:
        data = _override(data, override)
    return plan_from_dict(data, name=name, where=where, data_root=data_root)


def _override(data: Any, override: str) -> dict:
    """``data`` with one ``KEY=VALUE`` override applied (VALUE parsed as TOML)."""
    key, sep, text = override.partition("=")
    path = [part.strip() for part in key.split(".")]
    if not sep or not all(path):
        raise ValueError(f"bad --set {override!r}: expected KEY=VALUE, e.g. epochs=1 or "
                         "train.val_fold=0")
    try:
        value = tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word: a string
    changed = dict(data) if isinstance(data, Mapping) else {}
    table = changed
    for part in path[:-1]:
        inner = table.get(part, {})
        if not isinstance(inner, Mapping):
            raise ValueError(f"bad --set {override!r}: {part} is not a table")
        table[part] = dict(inner)
        table = table[part]
    table[path[-1]] = value
    return changed


def plan_from_dict(data: Mapping[str, Any], name: str, where: str | None = None,
                   data_root: str | Path | None = None) -> Plan:
    """Validate a parsed plan.

    Args:
        data: the plan's keys and values, as parsed from TOML or YAML.
        name: the plan's name (file stem or built-in name).
        where: the file named in error messages (defaults to ``name``).
        data_root: the folder of built datasets (see :func:`known_datasets`).

    Raises:
        ValueError: missing or unknown keys, unknown model or dataset, bad values, or a size
            sweep that fine-tunes onto its own upstream dataset.

    Example:
        >>> plan = plan_from_dict(dict(upstream=["georgia"], downstream=["ptbxl"],
        ...     models=["lstm"], seeds=2, epochs=1, finetune="full", select_on="val",
        ...     batch_size=8, lr=0.01), name="mini")
        >>> plan.seeds
        (0, 1)
    """
    where = where or f"plan {name}"
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a table of keys, got {type(data).__name__}")
    _check_keys(data, _REQUIRED, _OPTIONAL, where)
    try:
        plan = Plan(
            name=name,
            upstream=_datasets(data["upstream"], "upstream", data_root),
            downstream=_datasets(data["downstream"], "downstream", data_root),
            models=_models(data["models"], "models"),
            seeds=_seeds(data["seeds"], "seeds"),
            **_train_values({key: data[key] for key in TRAIN_KEYS}),
            train=_train_options(data.get("train", {})),
            size_sweep=(_size_sweep(data["size_sweep"], data_root) if "size_sweep" in data
                        else None),
            description=(_string(data["description"], "description")
                         if "description" in data else ""),
            grid=_grid(data.get("grid", {}), data.get("train", {})),
            build=_build(data.get("build", {}), data_root),
            differs_from=(_string(data["differs_from"], "differs_from")
                          if "differs_from" in data else ""),
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return plan


def public_datasets() -> tuple[str, ...]:
    """The public releases the TFRecords builder reads (``ptbxl`` ... ``ribeiro``)."""
    from tfrecords_builder.readers import RELEASE_READERS

    return tuple(RELEASE_READERS)


def known_datasets(data_root: str | Path | None = None) -> tuple[str, ...]:
    """The dataset names a plan may use: the public ones, then those built under ``data_root``.

    A dataset is built when ``DATA_ROOT/NAME/manifest.json`` exists (any builder reader,
    e.g. ``python -m tfrecords_builder folder``); its name must be usable in a cell key
    (letters, digits, ``_``, ``.``, ``-``; no ``__`` or ``-to-``).

    Example:
        >>> known_datasets()
        ('ptbxl', 'cpsc2018', 'georgia', 'ptb', 'ribeiro')
    """
    public = public_datasets()
    if data_root is None or not Path(data_root).is_dir():
        return public
    built = sorted(path.parent.name for path in Path(data_root).glob(f"*/{MANIFEST}")
                   if path.is_file() and _usable_name(path.parent.name))
    return public + tuple(name for name in built if name not in public)


#: Model facts now live in ``ecg_tl_keras.models.families``; these names stay importable from
#: here, loaded on first use (importing a plan imports no TensorFlow).
_MODEL_FACTS = ("known_families", "known_models", "model_family_of")


def __getattr__(name: str):
    if name in _MODEL_FACTS:
        from ecg_tl_keras.models import families

        return getattr(families, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _model_facts():
    from ecg_tl_keras.models import families

    return families


def _parse_toml(text: str, where: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{where}: not valid TOML: {error}") from None


def _parse_yaml(text: str, where: str) -> dict:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{where}: not valid YAML: {error}") from None


def _check_keys(data: Mapping, required: tuple, optional: tuple, where: str) -> None:
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                         f"expected {', '.join(required + optional)}")


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{key} must be a non-empty list of names, got {value!r}")
    names = tuple(_string(item, key) for item in value)
    if len(set(names)) != len(names):
        raise ValueError(f"{key} lists a name twice: {list(names)}")
    return names


def _known_names(value: Any, key: str, known, kind: str) -> tuple[str, ...]:
    names = _names(value, key)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown {kind}(s) {', '.join(unknown)} in {key}; "
                         f"expected names from {', '.join(known)}")
    return names


def _datasets(value: Any, key: str, data_root) -> tuple[str, ...]:
    names = _names(value, key)
    known = known_datasets(data_root)
    unknown = [name for name in names if name not in known]
    if unknown:
        where = (f"no {Path(data_root) / unknown[0] / MANIFEST}" if data_root is not None
                 else "no --data-root given to look for built datasets")
        raise ValueError(
            f"unknown dataset(s) {', '.join(unknown)} in {key}: not a public dataset "
            f"({', '.join(public_datasets())}) and {where}; build it with `python -m "
            f"tfrecords_builder folder --name {unknown[0]} --out DATA_ROOT ...`")
    return names


def _usable_name(name: str) -> bool:
    return bool(_DATASET_NAME.match(name)) and "__" not in name and "-to-" not in name


def _models(value: Any, key: str) -> tuple[str, ...]:
    return _known_names(value, key, _model_facts().known_models(), "model")


def _seeds(value: Any, key: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return tuple(range(_positive_int(value, key)))
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{key} must be a positive int N (seeds 0..N-1) or a list of ints, "
                         f"got {value!r}")
    seeds = tuple(_int(item, key) for item in value)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{key} lists a seed twice: {list(seeds)}")
    return seeds


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def _positive_int(value: Any, key: str) -> int:
    if _int(value, key) < 1:
        raise ValueError(f"{key} must be >= 1, got {value!r}")
    return value


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _train_config_module():
    from ecg_tl_keras.training import config

    return config


def _train_values(values: Mapping[str, Any]) -> dict:
    """The plan's top-level TrainConfig values, checked by TrainConfig's own rules.

    Placeholders stand for the per-cell fields (a fine-tuning strategy other than ``full``
    is valid here: fine-tune cells have a checkpoint).
    """
    _train_config_module().TrainConfig(data="-", model="-", out="-", finetune_from="-",
                                       **values)
    return dict(values)


def _train_fields(names, where: str) -> None:
    taken = sorted(set(names) & _cell_fields())
    if taken:
        raise ValueError(f"{where} may not set {', '.join(taken)}: the plan's own keys and "
                         "the cells set them")
    fields = {field.name for field in dataclasses.fields(_train_config_module().TrainConfig)}
    unknown = sorted(set(names) - fields)
    if unknown:
        raise ValueError(f"{where}: unknown TrainConfig field(s) {', '.join(unknown)}; "
                         f"expected some of {', '.join(sorted(fields - _cell_fields()))}")


def _for_key(options: Mapping[str, Any], key: str) -> dict:
    """``options`` with each table value replaced by its entry for ``key`` (dropped if none)."""
    resolved = {}
    for name, value in options.items():
        if isinstance(value, Mapping):
            if key in value:
                resolved[name] = value[key]
        else:
            resolved[name] = value
    return resolved


def _keyed_tables(options: Mapping[str, Any], known, kind: str, where: str) -> None:
    for name, value in options.items():
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(known))
            if unknown or not value:
                raise ValueError(f"{where} {name}: a table must be keyed by {kind}, got "
                                 f"{', '.join(unknown) or 'an empty table'}; expected some of "
                                 f"{', '.join(known)}")


def _cell_fields() -> set[str]:
    """TrainConfig fields a plan sets through its own keys or that the runner sets per cell."""
    return set(_PER_CELL_FIELDS) | set(TRAIN_KEYS)


def _train_options(value: Any) -> dict:
    if not isinstance(value, Mapping):
        raise ValueError(f"[train] must be a table of TrainConfig fields, got {value!r}")
    _train_fields(value, "[train]")
    _keyed_tables(value, _model_facts().known_families(), "model family", "[train]")
    return dict(value)


def _grid(value: Any, train: Any) -> dict:
    if not isinstance(value, Mapping):
        raise ValueError(f"[grid] must be a table of TrainConfig fields, got {value!r}")
    _train_fields(value, "[grid]")
    both = sorted(set(value) & set(train if isinstance(train, Mapping) else ()))
    if both:
        raise ValueError(f"{', '.join(both)} is set in both [train] and [grid]; keep one")
    grid = {}
    for name, values in value.items():
        if (not isinstance(values, (list, tuple)) or not values
                or any(isinstance(v, (list, dict)) for v in values)
                or len(set(values)) != len(values)):
            raise ValueError(f"[grid] {name} must be a non-empty list of distinct values, "
                             f"got {values!r}")
        grid[name] = tuple(values)
    return grid


def build_options() -> tuple[str, ...]:
    """Builder options a plan's ``[build]`` table may require (``build_dataset`` keywords):
    the settings of ``tfrecords_builder.options.BuildOptions``, then every registered
    reader's own options.

    Example:
        >>> options = build_options()
        >>> options[:4], "keep_padding" in options
        (('split', 'seed', 'shard_size', 'nan_policy'), True)
    """
    from tfrecords_builder.options import SETTINGS, reader_option_defaults
    from tfrecords_builder.readers import READERS

    own = {name for reader in READERS.values() for name in reader_option_defaults(reader)}
    return SETTINGS + tuple(sorted(own - set(SETTINGS)))


def _build(value: Any, data_root) -> dict:
    if not isinstance(value, Mapping):
        raise ValueError(f"[build] must be a table of builder options, got {value!r}")
    known = build_options()
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"[build]: unknown builder option(s) {', '.join(unknown)}; expected "
                         f"some of {', '.join(known)}")
    _keyed_tables(value, known_datasets(data_root), "dataset", "[build]")
    return dict(value)


def plan_differences(plan: Plan, other: Plan) -> list[str]:
    """The settings in which ``plan`` differs from ``other``, one readable line each.

    Compares the top-level training keys, ``[train]`` (per family), ``[grid]`` and
    ``[build]``; a key one plan leaves out shows as ``(default)``.

    Example:
        >>> lines = plan_differences(load_plan("paper-faithful"), load_plan("paper"))
        >>> "select_on: 'val' -> 'test'" in lines
        True
    """
    lines = [f"{key}: {getattr(other, key)!r} -> {getattr(plan, key)!r}"
             for key in TRAIN_KEYS if getattr(other, key) != getattr(plan, key)]
    for table in ("train", "grid", "build"):
        mine, theirs = dict(getattr(plan, table)), dict(getattr(other, table))
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                lines.append(f"[{table}] {key}: {_shown(theirs, key)} -> {_shown(mine, key)}")
    return lines


def _shown(table: Mapping, key: str) -> str:
    return repr(_plain(table[key])) if key in table else "(default)"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return list(value) if isinstance(value, tuple) else value


def _size_sweep(value: Any, data_root) -> SizeSweep:
    if not isinstance(value, Mapping):
        raise ValueError(f"[size_sweep] must be a table, got {value!r}")
    _check_keys(value, _SWEEP_KEYS, (), "[size_sweep]")
    sweep = SizeSweep(
        upstream=_datasets([value["upstream"]], "size_sweep.upstream", data_root)[0],
        downstream=_datasets([value["downstream"]], "size_sweep.downstream", data_root)[0],
        models=_models(value["models"], "size_sweep.models"),
        train_sizes=tuple(sorted(_positive_int(size, "size_sweep.train_sizes")
                                 for size in _distinct_list(value["train_sizes"]))),
    )
    if sweep.upstream == sweep.downstream:
        raise ValueError(f"size_sweep fine-tunes onto its own upstream dataset {sweep.upstream!r}: "
                         "upstream and downstream must differ")
    return sweep


def _distinct_list(value: Any) -> list:
    if not isinstance(value, (list, tuple)) or not value or len(set(value)) != len(value):
        raise ValueError(f"size_sweep.train_sizes must be a non-empty list of distinct ints, "
                         f"got {value!r}")
    return list(value)
