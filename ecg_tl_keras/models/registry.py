"""The registry of named backbones, each stored as a `BackboneSpec`.

A backbone is a function `builder(input_shape=(1000, 12), **kwargs)` returning a
functional `keras.Model` named `BACKBONE_NAME` that maps an ECG batch
`(batch, samples, leads)` to a feature batch `(batch, features)`. Registering it
with `register_backbone(name, family=..., stages=..., marker=...)` stores its
spec: what the report, figures, dry-run and gradual unfreezing read about it, so a
backbone added from outside the package is as complete as a built-in one.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
from typing import Any, Callable, Mapping

from tfrecords_builder.registry import Registry

BACKBONE_NAME = "backbone"
#: Family used when `register_backbone` is given none.
DEFAULT_FAMILY = "other"

#: The registered backbones: name -> builder, each entry's spec a `BackboneSpec`.
BACKBONES: Registry[Callable[..., Any]] = Registry(
    "backbone",
    hint="(a backbone registered in your own module needs `ecg-tl-keras --import MODULE`)")
_FAMILY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """What the package knows about a registered backbone.

    Attributes:
        name: The registry name (`build_model`, plans and `--model` take it).
        builder: `builder(input_shape=..., **kwargs) -> keras.Model`.
        family: Lower-case architecture family, e.g. `"cnn"`, `"rnn"`,
            `"transformer"` (`DEFAULT_FAMILY` when not given); the report
            and figures group and label models by it.
        stages: Layer-name prefixes of the backbone's stages, input to
            output, for gradual unfreezing (a layer belongs to stage `p` when
            its name is `p` or starts with `p_`), or `None`: one stage per
            distinct prefix before the first underscore of the weighted
            layers' names.
        default_kwargs: Architecture arguments passed to `builder` unless
            the caller gives them: the builder's own keyword defaults updated
            by those given at registration (read-only mapping).
        cpu_samples_per_s: Measured training throughput on 2 CPU cores at
            batch 256 (`bench/bench_pipeline.py`), used by the study's
            dry-run cost estimate; `None` when not measured.
        marker: The matplotlib marker the study's figures draw the model
            with (e.g. `"o"`, `"^"`), or `None`: a spare marker no other
            model of the figure uses (`ecg_tl_keras.study.figures`).

    Example:
        >>> spec = get_backbone_spec("resnet1d18")
        >>> spec.family, spec.stages
        ('cnn', ('stem', 'stage1', 'stage2', 'stage3', 'stage4'))
        >>> dict(get_backbone_spec("gru").default_kwargs)
        {'units': 100, 'dropout': 0.3, 'readout': 'last'}
    """

    name: str
    builder: Callable[..., Any]
    family: str = DEFAULT_FAMILY
    stages: tuple[str, ...] | None = None
    default_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    cpu_samples_per_s: float | None = None
    marker: str | None = None

    def build(self, input_shape=(1000, 12), **kwargs):
        """Builds the backbone: `default_kwargs` updated by `kwargs`.

        Raises:
            ValueError: For an argument the builder does not take, or one it
                rejects.
        """
        arguments = {**self.default_kwargs, **kwargs}
        _check_arguments(self.name, self.builder, arguments)
        return self.builder(input_shape=input_shape, **arguments)


def register_backbone(name, *, family=DEFAULT_FAMILY, stages=None, default_kwargs=None,
                      cpu_samples_per_s=None, marker=None, override=False):
    """Decorator adding a backbone builder to the registry under `name`.

    Args:
        name: The name `get_backbone` and `build_model` will accept.
        family: Architecture family, a lower-case word such as `"cnn"`,
            `"rnn"` or `"transformer"`.
        stages: Layer-name prefixes of the stages, input to output (see
            `BackboneSpec.stages`), or `None` to group by name prefix.
        default_kwargs: Architecture arguments used unless a caller overrides
            them; each must be a parameter of the builder.
        cpu_samples_per_s: Measured training samples/s on 2 CPU cores at
            batch 256, or `None`.
        marker: A matplotlib marker code for the study's figures (`"o"`,
            `"s"`, `"^"`, ...), or `None` for a spare one.
        override: Replace a backbone already registered under `name`
            (otherwise that is an error).

    Returns:
        A decorator that registers the builder and returns it unchanged.

    Raises:
        ValueError: If `name` is already registered (and `override` is not
            set) or an argument is invalid.

    Example:
        >>> import keras
        >>> @register_backbone("tiny_cnn", family="cnn", stages=("conv",))
        ... def tiny_cnn(input_shape=(1000, 12), filters=8):
        ...     inputs = keras.Input(shape=input_shape)
        ...     x = keras.layers.Conv1D(filters, 5, name="conv_1")(inputs)
        ...     x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
        ...     return keras.Model(inputs, x, name=BACKBONE_NAME)
        >>> get_backbone_spec("tiny_cnn").family
        'cnn'
        >>> unregister_backbone("tiny_cnn")  # leave the registry as it was
    """
    BACKBONES.check_name(name)
    if not isinstance(family, str) or not _FAMILY_PATTERN.match(family):
        raise ValueError(
            f"backbone {name!r}: family must be a lower-case word such as 'cnn', 'rnn' or "
            f"'transformer', got {family!r}"
        )
    stages = _check_stages(name, stages)
    default_kwargs = dict(default_kwargs or {})
    if cpu_samples_per_s is not None and (
        isinstance(cpu_samples_per_s, bool)
        or not isinstance(cpu_samples_per_s, (int, float))
        or not cpu_samples_per_s > 0
    ):
        raise ValueError(
            f"backbone {name!r}: cpu_samples_per_s must be a positive number or None, "
            f"got {cpu_samples_per_s!r}"
        )
    if marker is not None and (not isinstance(marker, str) or not marker):
        raise ValueError(f"backbone {name!r}: marker must be a matplotlib marker code such as "
                         f"'o' or '^', or None, got {marker!r}")

    def decorator(builder):
        _check_arguments(name, builder, default_kwargs)
        defaults = {key: p.default for key, p in inspect.signature(builder).parameters.items()
                    if key != "input_shape" and p.default is not inspect.Parameter.empty}
        spec = BackboneSpec(
            name=name, builder=builder, family=family, stages=stages,
            default_kwargs=types.MappingProxyType({**defaults, **default_kwargs}),
            cpu_samples_per_s=None if cpu_samples_per_s is None else float(cpu_samples_per_s),
            marker=marker,
        )
        return BACKBONES.register(name, builder, spec=spec, override=override)

    return decorator


def available_backbones():
    """Lists the registered backbone names, in registration order.

    Returns:
        A list of names, e.g. `["resnet1d18", ..., "gru"]`.

    Example:
        >>> "resnet1d18" in available_backbones()
        True
    """
    return list(BACKBONES.names())


def unregister_backbone(name):
    """Removes a registered backbone (e.g. to re-run a notebook cell).

    Raises:
        ValueError: If `name` is not registered.

    Example:
        >>> _ = register_backbone("scratch_copy", family="rnn")(get_backbone_spec("gru").builder)
        >>> unregister_backbone("scratch_copy")
        >>> "scratch_copy" in available_backbones()
        False
    """
    BACKBONES.unregister(name)


def get_backbone_spec(name):
    """The `BackboneSpec` registered under `name`.

    Raises:
        ValueError: If `name` is not registered (the message lists the names
            and how to register one from another module).

    Example:
        >>> get_backbone_spec("gru").family
        'rnn'
    """
    return BACKBONES.spec(name)


def get_backbone(name, input_shape=(1000, 12), **kwargs):
    """Builds a registered backbone.

    Args:
        name: A name from `available_backbones()`.
        input_shape: `(samples, leads)` of the ECG input.
        **kwargs: Architecture arguments of that backbone (e.g. `units` and
            `dropout` for the recurrent ones); they override the spec's
            `default_kwargs`.

    Returns:
        A functional `keras.Model` named `"backbone"` outputting features.

    Raises:
        ValueError: If `name` is not registered or an argument is invalid.

    Example:
        >>> backbone = get_backbone("gru", input_shape=(250, 12))
        >>> backbone.output_shape
        (None, 100)
    """
    return get_backbone_spec(name).build(input_shape=input_shape, **kwargs)


def _check_stages(name, stages):
    if stages is None:
        return None
    if isinstance(stages, str) or not isinstance(stages, (list, tuple)) or not stages:
        raise ValueError(
            f"backbone {name!r}: stages must be a non-empty list of layer-name prefixes or "
            f"None, got {stages!r}"
        )
    if not all(isinstance(stage, str) and stage for stage in stages):
        raise ValueError(f"backbone {name!r}: every stage must be a non-empty string, "
                         f"got {list(stages)!r}")
    if len(set(stages)) != len(stages):
        raise ValueError(f"backbone {name!r}: stages lists a prefix twice: {list(stages)!r}")
    return tuple(stages)


def _check_arguments(name, builder, arguments):
    """Raises ValueError when `builder` does not take every key of `arguments`."""
    parameters = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [key for key, p in parameters.items()
                if key != "input_shape" and p.kind is not inspect.Parameter.VAR_POSITIONAL]
    unknown = sorted(set(arguments) - set(accepted))
    if unknown:
        raise ValueError(
            f"backbone {name!r} takes no argument(s) {', '.join(unknown)}; "
            f"it takes {', '.join(accepted) or 'only input_shape'}"
        )
