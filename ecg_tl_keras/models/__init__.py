"""Backbones, heads and fine-tuning helpers.

Nine backbones (`available_backbones()`): the study's six, `resnet1d18`,
`resnet1d50`, `resnet1d101` (torchvision's ResNets in 1-D) and `lstm`,
`bilstm`, `gru` (one recurrent layer of 100 units), `transformer1d` (a
small 1-D transformer encoder), and the architectures of two published
foundation models, `net1d` (ECGFounder) and `ribeiro_resnet` (Ribeiro et al.),
whose weights `ecg-tl-keras import` turns into presets (`from_preset`,
`save_to_preset`). Each is registered with a `BackboneSpec`
(`get_backbone_spec(name)`: family, stages, default arguments, measured CPU
rate); `register_backbone` adds your own. `build_model` puts the per-lead input
normalization in front and a sigmoid head on top; `replace_head`,
`freeze_backbone`, `unfreeze_backbone`, `unfreeze_stages` and
`backbone_stages` serve transfer learning.

Example:
    >>> from ecg_tl_keras.models import build_model, replace_head, freeze_backbone
    >>> source = build_model("resnet1d18", 5, input_shape=(200, 12))
    >>> target = replace_head(source, 3)
    >>> freeze_backbone(target)
"""

# Importing the backbone modules registers them; ResNets first.
from ecg_tl_keras.models import resnet1d  # noqa: F401  isort: skip
from ecg_tl_keras.models import recurrent  # noqa: F401  isort: skip
from ecg_tl_keras.models import transformer1d  # noqa: F401  isort: skip
from ecg_tl_keras.models import net1d  # noqa: F401  isort: skip
from ecg_tl_keras.models import ribeiro  # noqa: F401  isort: skip
from ecg_tl_keras.models import conventions  # noqa: F401  isort: skip  (presets' input layers)
from ecg_tl_keras.choices import HEADS, INPUT_SCALINGS, READOUTS
from ecg_tl_keras.models.builder import build_model
from ecg_tl_keras.models.families import known_families, known_models, model_family_of
from ecg_tl_keras.models.finetune import (
    backbone_stages,
    freeze_backbone,
    reinitialized,
    replace_head,
    unfreeze_backbone,
    unfreeze_stages,
    untrained_copy,
)
from ecg_tl_keras.models.normalization import MinMaxScaling
from ecg_tl_keras.models.presets import from_preset, load_preset, save_to_preset
from ecg_tl_keras.models.registry import (
    BackboneSpec,
    available_backbones,
    get_backbone,
    get_backbone_spec,
    register_backbone,
    unregister_backbone,
)

__all__ = [
    "BackboneSpec",
    "HEADS",
    "INPUT_SCALINGS",
    "MinMaxScaling",
    "READOUTS",
    "available_backbones",
    "backbone_stages",
    "build_model",
    "freeze_backbone",
    "from_preset",
    "get_backbone",
    "get_backbone_spec",
    "known_families",
    "known_models",
    "load_preset",
    "model_family_of",
    "register_backbone",
    "reinitialized",
    "replace_head",
    "save_to_preset",
    "unfreeze_backbone",
    "unfreeze_stages",
    "unregister_backbone",
    "untrained_copy",
]
