"""Importers of published ECG models into presets (`ecg-tl-keras import NAME`).

- `ecgfounder`: ECGFounder's PyTorch `state_dict` (`.pth`, read with PyTorch,
  the optional extra `ecg-tl-keras[torch]`) into the Keras `net1d` backbone.
- `ribeiro`: Ribeiro et al.'s Keras 2 `.hdf5` (read with h5py) into the Keras 3
  `ribeiro_resnet` backbone.

Each checks every tensor of the file against the architecture and refuses the
file at the first mismatch, then writes a preset (`ecg_tl_keras.models.presets`)
whose metadata carries the model's input conventions, labels, licence and source.
"""

from ecg_tl_keras.importers.ecgfounder import import_ecgfounder
from ecg_tl_keras.importers.ribeiro import import_ribeiro

#: `ecg-tl-keras import NAME` -> the function writing its preset.
IMPORTERS = {"ecgfounder": import_ecgfounder, "ribeiro": import_ribeiro}

__all__ = ["IMPORTERS", "import_ecgfounder", "import_ribeiro"]
