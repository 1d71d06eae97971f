"""Build training-ready TFRecords of a public ECG release and read them back.

Usage (defaults: the PTB-XL sample bundled with the package, into ./data)::

    python examples/build_dataset.py [DATASET] [SOURCE] [OUT]

The same from the shell: ``python -m tfrecords_builder ptbxl --source SOURCE --out OUT``.
For the full study, build all five releases into one folder (``OUT/ptbxl``, ``OUT/cpsc2018``,
``OUT/georgia``, ``OUT/ptb``, ``OUT/ribeiro``): that folder is ``--data-root`` of
``ecg-tl-keras study run``.
"""

import sys
from pathlib import Path

import ecg_tl_keras
from ecg_tl_keras.datasets import load_split
from tfrecords_builder import build_dataset

dataset = sys.argv[1] if len(sys.argv) > 1 else "ptbxl"
sample = Path(ecg_tl_keras.__file__).parent / "sample_data"
source = sys.argv[2] if len(sys.argv) > 2 else sample / dataset
out = Path(sys.argv[3] if len(sys.argv) > 3 else "data")

manifest = build_dataset(dataset, source=source, out=out, seed=0)  # skips a finished build
print("labels:", manifest["labels"])
for split, info in manifest["splits"].items():
    print(f"{split}: {info['records']} records, {info['patients']} patients, "
          f"{info['label_counts']}")

signals, labels = next(iter(load_split(out / dataset, "train", batch_size=8, shuffle=True)))
print("one batch:", signals.shape, "signals in mV;", labels.shape, "multi-hot labels")
