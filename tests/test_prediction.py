"""A checkpoint meets data: predict conditions records as its training data was built;
evaluate and fine-tuning refuse data whose leads differ, even at an equal shape."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_tl_keras.models import build_model
from ecg_tl_keras.training.checkpoints import save_checkpoint
from ecg_tl_keras.training.prediction import predict_records
from tfrecords_builder import read_any_record
from tfrecords_builder.signal import STANDARD_LEADS

LEADS = ("II", "V1", "I")


@pytest.mark.parametrize("resample", ["poly", "decimate"])
def test_predict_takes_the_checkpoints_leads_and_resampling(sample_data, tmp_path, resample):
    record = sorted((sample_data / "georgia").glob("*.hea"))[0]  # 500 Hz, 12 leads
    model = build_model("gru", 2, input_shape=(1000, len(LEADS)))
    checkpoint = tmp_path / "best.keras"
    save_checkpoint(model, checkpoint, {"labels": ["A", "B"], "leads": list(LEADS),
                                        "resample": resample})
    names, probabilities = predict_records(str(checkpoint), [str(record)])
    expected = read_any_record(record, leads=LEADS, resample=resample)
    assert names == ["A", "B"]
    np.testing.assert_allclose(probabilities, model.predict(expected[None], verbose=0),
                               rtol=1e-5, atol=1e-6)
    other = read_any_record(record, leads=LEADS,
                            resample="decimate" if resample == "poly" else "poly")
    assert not np.allclose(expected, other)  # the two resamplings differ on this record


def test_read_any_record_picks_leads_by_name(sample_data):
    record = sample_data / "ptbxl" / "records100" / "00000" / "00001_lr.hea"
    full = read_any_record(record)
    picked = read_any_record(record, leads=("V1", "I"))
    np.testing.assert_array_equal(
        picked, full[:, [STANDARD_LEADS.index("V1"), STANDARD_LEADS.index("I")]])


def _checkpoint_of_swapped_leads(tmp_path):
    """A 12-lead model whose training data had V1 and V2 swapped: the data's shape, not its leads."""
    leads = list(STANDARD_LEADS)
    leads[6], leads[7] = leads[7], leads[6]
    checkpoint = tmp_path / "swapped.keras"
    save_checkpoint(build_model("gru", 5, input_shape=(1000, 12)), checkpoint,
                    {"labels": ["NORM", "MI", "STTC", "CD", "HYP"], "model": "gru", "fs": 100,
                     "leads": leads})
    return checkpoint


def test_evaluate_and_finetune_refuse_data_of_other_leads(ptbxl_built, tmp_path):
    from ecg_tl_keras.datasets import BuiltDataset
    from ecg_tl_keras.training.evaluation import evaluate_checkpoint
    from ecg_tl_keras.training.finetune import transferred_model

    checkpoint = _checkpoint_of_swapped_leads(tmp_path)
    manifest = BuiltDataset.open(ptbxl_built).manifest
    with pytest.raises(ValueError, match=r"cannot read .*leads I,II,III,aVR,aVL,aVF,V2,V1"):
        evaluate_checkpoint(str(checkpoint), ptbxl_built, verify=False)
    with pytest.raises(ValueError, match=r"cannot read the dataset's signals: leads .*V2,V1"):
        transferred_model(str(checkpoint), "gru", manifest, ["A", "B"], None)
