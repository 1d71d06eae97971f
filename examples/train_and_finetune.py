"""Pre-train on one dataset, fine-tune on another, compare with training from scratch.

Usage (after ``python examples/build_dataset.py ptbxl`` and
``python examples/build_dataset.py georgia``, which build the bundled samples into ./data)::

    python examples/train_and_finetune.py [DATA_ROOT] [MODEL] [EPOCHS]

This is one upstream/downstream pair of the study by hand; ``ecg-tl-keras study run`` runs
the whole grid. Each call writes a run folder (best.keras, history.csv, metrics.json,
predictions_test.npz) and resumes if it was interrupted.
"""

import sys
from pathlib import Path

from ecg_tl_keras.training import TrainConfig, train

data = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
model = sys.argv[2] if len(sys.argv) > 2 else "resnet1d18"
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
# val_fold 0: the 10-record Georgia sample has no record in the default fold 8.
common = dict(model=model, epochs=epochs, batch_size=32, val_fold=0, verbose=2)

# 1. Pre-train on the upstream dataset (PTB-XL) from scratch.
upstream = train(TrainConfig(data=str(data / "ptbxl"), out=f"runs/{model}_ptbxl", **common))

# 2. Fine-tune that model on the downstream dataset (Georgia): new head, all layers trained.
finetuned = train(TrainConfig(data=str(data / "georgia"), out=f"runs/{model}_ptbxl_to_georgia",
                              finetune_from=f"runs/{model}_ptbxl/best.keras", finetune="full",
                              **common))

# 3. The baseline: the same model trained from scratch on the downstream dataset.
scratch = train(TrainConfig(data=str(data / "georgia"), out=f"runs/{model}_georgia", **common))

print(f"PTB-XL from scratch:        test weighted F1 {upstream['test_weighted_f1']:.3f}")
print(f"Georgia, fine-tuned:        test weighted F1 {finetuned['test_weighted_f1']:.3f}")
print(f"Georgia, from scratch:      test weighted F1 {scratch['test_weighted_f1']:.3f}")
