"""Use a (pre-trained) backbone inside your own Keras model: age regression from the ECG.

Usage::

    python examples/custom_head_age_regression.py [DATA_DIR] [CHECKPOINT]

DATA_DIR is a built PTB-XL dataset (default ``data/ptbxl``, see build_dataset.py);
CHECKPOINT is a ``best.keras`` written by ``ecg-tl-keras train`` (e.g. from
train_and_finetune.py). Without a checkpoint a fresh ResNet1d18 backbone is used.
Ages come from the ``ptbxl_database.csv`` of the release the dataset was built from (the
manifest's ``source``), joined on the TFRecords' ``record_id`` (= ``ecg_id``).
"""

import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ecg_tl_keras.datasets import load_manifest, load_records
from ecg_tl_keras.models import get_backbone
from ecg_tl_keras.training.checkpoints import load_checkpoint

data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "data/ptbxl")
checkpoint = sys.argv[2] if len(sys.argv) > 2 else None
manifest = load_manifest(data_dir)
ages = pd.read_csv(Path(manifest["source"]) / "ptbxl_database.csv", index_col="ecg_id")["age"]
ages = ages[ages < 120]  # PTB-XL codes ages over 89 as 300


def arrays(split):
    """Signals and ages of the records of a split that have an age."""
    signals, targets = [], []
    for signal, _, record_id in load_records(data_dir, split, with_ids=True).as_numpy_iterator():
        ecg_id = int(record_id.decode())
        if ecg_id in ages.index:
            signals.append(signal)
            targets.append(ages[ecg_id])
    return np.stack(signals), np.array(targets, dtype="float32")


# The backbone: the feature extractor of a trained classifier, or a fresh one.
if checkpoint:
    classifier, _ = load_checkpoint(checkpoint)
    backbone = classifier.get_layer("backbone")
    normalization = classifier.get_layer("normalization")
else:
    backbone, normalization = get_backbone("resnet1d18", input_shape=(1000, 12)), None

train_x, train_y = arrays("train")
test_x, test_y = arrays("test")
print(f"{len(train_y)} train and {len(test_y)} test records with an age; "
      f"{manifest['dataset']} labels are not used here")

# Your own model around it: same input in mV, the package's normalization when there is one,
# the backbone's feature vector, then your head.
inputs = keras.Input((1000, 12), name="ecg")
x = normalization(inputs) if normalization is not None else inputs
features = backbone(x)
hidden = keras.layers.Dense(64, activation="relu", name="age_hidden")(features)
# Start the output at the mean train age, so training refines rather than climbs to it.
age = keras.layers.Dense(1, name="age",
                         bias_initializer=keras.initializers.Constant(train_y.mean()))(hidden)
model = keras.Model(inputs, age, name="age_regressor")
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
model.fit(train_x, train_y, validation_split=0.1, epochs=3, batch_size=32, verbose=2)
mae = model.evaluate(test_x, test_y, verbose=0)[1]
print(f"test mean absolute error: {mae:.1f} years "
      f"(predicting the train mean: {np.abs(test_y - train_y.mean()).mean():.1f})")
model.save("age_regressor.keras")
