"""A checkpoint meets data: predict conditions records as its training data was built;
evaluate and fine-tuning refuse data whose leads differ, even at an equal shape. Training
stores per-label decision thresholds chosen on the selection split; predict writes a
probability, the threshold and a decision per label, and survives bad records."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

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


# --- decision thresholds ----------------------------------------------------------------------


def _brute_force_best_f1(truth, prob):
    """The best F1 of any threshold, trying every probability and the midpoints between them."""
    from ecg_tl_keras.metrics import per_label_f1

    values = np.unique(np.concatenate([prob, [0.0, 1.0]]))
    candidates = np.concatenate([values, (values[1:] + values[:-1]) / 2])
    return max(per_label_f1(truth[:, None], prob[:, None], t)[0] for t in candidates)


def test_thresholds_maximise_each_labels_f1_and_keep_half_without_positives():
    from ecg_tl_keras.metrics import per_label_f1
    from ecg_tl_keras.training.thresholds import max_f1_thresholds

    rng = np.random.default_rng(3)
    y_true = (rng.random((60, 3)) < [0.2, 0.5, 0.0]).astype(int)
    y_prob = np.clip(0.35 * y_true + rng.random((60, 3)) * 0.6, 0, 1)
    entry = max_f1_thresholds(y_true, y_prob, ["A", "B", "C"], split="val (fold 8)")
    assert entry["rule"] == "max F1 per label on the selection split"
    assert entry["split"] == "val (fold 8)" and entry["records"] == 60
    for column in (0, 1):
        chosen = per_label_f1(y_true[:, [column]], y_prob[:, [column]],
                              entry["values"][column])[0]
        assert chosen == pytest.approx(_brute_force_best_f1(y_true[:, column],
                                                            y_prob[:, column]))
        assert entry["selection_f1"][column] == pytest.approx(chosen, abs=1e-6)
        assert chosen >= entry["f1_at_0.5"][column] - 1e-6
    assert entry["values"][2] == 0.5 and "no positive record" in entry["notes"]["C"]
    assert entry["positives"] == [int(n) for n in y_true.sum(axis=0)]
    assert entry["values"][0] != 0.5  # the data make 0.5 a poor threshold for A


def test_a_label_whose_probabilities_are_all_zero_keeps_half_with_a_note():
    """A collapsed model (every probability 0.0 for a label, as float32 sigmoids saturate
    to): no threshold predicts a record, so 0.5 is kept, not a crash at the end of a run."""
    from ecg_tl_keras.training.thresholds import max_f1_thresholds

    entry = max_f1_thresholds([[1, 1], [0, 1], [1, 0]], [[0.0, 0.9], [0.0, 0.8], [0.0, 0.1]],
                              ["A", "B"], split="val")
    assert entry["values"] == [0.5, 0.45]
    assert entry["notes"] == {"A": "every probability in the selection split is 0: 0.5"}
    assert entry["selection_f1"][0] == 0.0


# --- predict: a checkpoint trained on the built sample ----------------------------------------

MAX_F1 = "max F1 per label on the selection split"


def _tiny_model():
    import keras

    return keras.Sequential([keras.Input((1000, 12)), keras.layers.GlobalAveragePooling1D(),
                             keras.layers.Dense(5, activation="sigmoid")])


@pytest.fixture(scope="module")
def trained(ptbxl_built, tmp_path_factory):
    """A small model trained one epoch on the built PTB-XL sample (selects on val fold 8)."""
    from ecg_tl_keras.training import TrainConfig, train

    out = tmp_path_factory.mktemp("runs") / "pooling"
    train(TrainConfig(data=str(ptbxl_built), out=str(out), model="pooling", epochs=1,
                      batch_size=64, verbose=0, lr=0.05), model=_tiny_model())
    return out / "best.keras"


def test_training_stores_thresholds_chosen_on_the_selection_split(trained, ptbxl_built):
    from ecg_tl_keras.training.checkpoints import load_checkpoint
    from ecg_tl_keras.training.evaluation import Predictor, load_eval_split
    from ecg_tl_keras.training.thresholds import max_f1_thresholds

    model, metadata = load_checkpoint(trained)
    stored = metadata["thresholds"]
    assert stored["rule"] == MAX_F1 and stored["split"].startswith("val (train fold 8")
    selection = load_eval_split(ptbxl_built, "train", name="val", folds=[8])
    expected = max_f1_thresholds(selection.y_true, Predictor(model)(selection.signals),
                                 metadata["labels"], split=stored["split"])
    assert stored["values"] == pytest.approx(expected["values"], abs=1e-6)
    assert stored["records"] == len(selection.y_true)
    assert metadata["label_code_system"].startswith("SCP-ECG")
    assert metadata["label_codes"]["NORM"] == ["NORM"] and "IMI" in metadata["label_codes"]["MI"]
    assert (metadata["fs"], metadata["samples"], metadata["unit"]) == (100, 1000, "mV")
    assert metadata["resample"] == "poly" and metadata["nan_policy"] == "drop"


def test_a_run_selected_on_test_chooses_no_threshold(ptbxl_built, tmp_path):
    from ecg_tl_keras.training import TrainConfig, train
    from ecg_tl_keras.training.checkpoints import read_metadata

    train(TrainConfig(data=str(ptbxl_built), out=str(tmp_path / "run"), model="pooling",
                      epochs=1, batch_size=64, verbose=0, select_on="test"), model=_tiny_model())
    stored = read_metadata(tmp_path / "run" / "best.keras")["thresholds"]
    assert stored["values"] == [0.5] * 5 and stored["split"] is None
    assert "never chosen on the test split" in stored["notes"]["all"]


def _folder_with_a_corrupt_record(sample_data, tmp_path):
    folder = tmp_path / "records"
    (folder / "sub").mkdir(parents=True)
    source = sample_data / "ptbxl" / "records100" / "00000"
    for name, where in (("00001_lr", folder), ("00002_lr", folder), ("00003_lr", folder / "sub")):
        for extension in (".hea", ".dat"):
            shutil.copy(source / f"{name}{extension}", where / f"{name}{extension}")
    (folder / "broken.hea").write_text("broken 12 100 1000\nthis is not a signal line\n")
    (folder / "notes.txt").write_text("not a record")
    return folder


def _read_csv(path_or_text):
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    comments = [line[2:] for line in text.splitlines() if line.startswith("# ")]
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    return comments, rows


def test_predict_writes_every_readable_record_and_exits_1_for_a_corrupt_one(
        trained, sample_data, tmp_path, capsys):
    from ecg_tl_keras import cli
    from ecg_tl_keras.training.checkpoints import read_metadata

    folder = _folder_with_a_corrupt_record(sample_data, tmp_path)
    out = tmp_path / "out" / "preds.csv"
    assert cli.main(["predict", "--checkpoint", str(trained), str(folder), "--out", str(out)]) == 1
    assert "1 record(s) failed" in capsys.readouterr().err
    comments, rows = _read_csv(out)
    assert [Path(row["record"]).name for row in rows] == [
        "00001_lr.hea", "00002_lr.hea", "broken.hea", "00003_lr.hea"]
    assert [row["status"] for row in rows] == ["ok", "ok", "failed", "ok"]
    failed = rows[2]
    assert "broken" in failed["reason"] and failed["NORM_probability"] == ""
    metadata = read_metadata(trained)
    labels, thresholds = metadata["labels"], metadata["thresholds"]["values"]
    for row in (rows[0], rows[1], rows[3]):
        assert row["reason"] == ""
        for label, threshold in zip(labels, thresholds):
            probability = float(row[f"{label}_probability"])
            assert float(row[f"{label}_threshold"]) == pytest.approx(threshold)
            assert row[f"{label}_decision"] == ("yes" if probability > threshold else "no")
    assert any("independent (multi-label)" in line for line in comments)
    assert any(line.startswith(f"thresholds: the checkpoint: {MAX_F1} (val") for line in comments)
    assert [path.name for path in out.parent.iterdir()] == ["preds.csv"]  # no partial file left


def test_predict_probabilities_are_the_models(trained, sample_data, tmp_path, capsys):
    from ecg_tl_keras import cli
    from ecg_tl_keras.training.checkpoints import load_checkpoint

    record = sample_data / "ptbxl" / "records100" / "00000" / "00001_lr.hea"
    assert cli.main(["predict", "--checkpoint", str(trained), str(record)]) == 0
    _, rows = _read_csv(capsys.readouterr().out)
    model, metadata = load_checkpoint(trained)
    expected = model.predict(read_any_record(record)[None], verbose=0)[0]
    got = [float(rows[0][f"{label}_probability"]) for label in metadata["labels"]]
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("flags, value, source", [
    (["--threshold", "0.2"], 0.2, "--threshold 0.2 (one for all labels)"),
    (["--thresholds", "0.5"], 0.5, "--thresholds 0.5 (fixed)"),
])
def test_threshold_flags_override_the_checkpoints(trained, sample_data, tmp_path, capsys,
                                                  flags, value, source):
    from ecg_tl_keras import cli

    record = sample_data / "ptbxl" / "records100" / "00000" / "00002_lr.hea"
    out = tmp_path / "preds.json"
    assert cli.main(["predict", "--checkpoint", str(trained), str(record), "--out", str(out),
                     *flags]) == 0
    document = json.loads(out.read_text())
    assert document["multi_label"] is True and document["thresholds"]["source"] == source
    (entry,) = document["records"]
    assert entry["status"] == "ok" and entry["reason"] is None
    for label, decided in entry["labels"].items():
        assert decided["threshold"] == value
        assert decided["decision"] == ("yes" if decided["probability"] > value else "no")
    assert document["summary"] == {"records": 1, "ok": 1, "failed": 0}


@pytest.mark.parametrize("flags, message", [
    (["--threshold", "1.5"], "--threshold must be a probability in [0, 1]"),
    (["--out", "preds.txt"], "expected a .csv or .json file name"),
    (["--lead-map", "MLII"], "is not CHANNEL=LEAD"),
    (["--assume-units", "NU"], "--assume-units must be a voltage unit"),
    (["empty_folder"], "no records found"),
])
def test_bad_flags_exit_2_with_nothing_written(trained, sample_data, tmp_path, capsys,
                                               flags, message, monkeypatch):
    from ecg_tl_keras import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty_folder").mkdir()
    record = sample_data / "ptbxl" / "records100" / "00000" / "00002_lr.hea"
    out = [] if "--out" in flags else ["--out", "preds.csv"]
    assert cli.main(["predict", "--checkpoint", str(trained), str(record), *flags, *out]) == 2
    assert message in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == ["empty_folder"]
    with pytest.raises(SystemExit) as exit_:  # one or the other, not both
        cli.main(["predict", "--checkpoint", str(trained), str(record), "--threshold", "0.2",
                  "--thresholds", "val"])
    assert exit_.value.code == 2


def test_a_checkpoint_without_thresholds_decides_at_half_and_says_so(sample_data, tmp_path,
                                                                      capsys):
    from ecg_tl_keras import cli

    checkpoint = tmp_path / "old.keras"
    save_checkpoint(build_model("gru", 2, input_shape=(1000, 12)), checkpoint,
                    {"labels": ["A", "B"]})
    record = sample_data / "ptbxl" / "records100" / "00000" / "00001_lr.hea"
    assert cli.main(["predict", "--checkpoint", str(checkpoint), str(record),
                     "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["thresholds"]["values"] == {"A": 0.5, "B": 0.5}
    assert "stores no decision thresholds" in document["thresholds"]["source"]
    assert cli.main(["predict", "--checkpoint", str(tmp_path / "missing.keras"),
                     str(record)]) == 2


def test_folders_list_headers_edf_and_lone_mat_but_not_segments(tmp_path):
    from ecg_tl_keras.training.record_files import find_records

    (tmp_path / "multi.hea").write_text("multi/2 1 100 2000\nmulti_1 1000\n~ 0\nmulti_2 1000\n")
    for name in ("multi_1.hea", "multi_2.hea", "multi_1.dat", "multi_2.dat", "cinc.hea",
                 "cinc.mat", "cpsc.mat", "holter.EDF", "RECORDS"):
        (tmp_path / name).write_text("")
    assert [Path(path).name for path in find_records([tmp_path])] == [
        "cinc.hea", "cpsc.mat", "holter.EDF", "multi.hea"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no records found"):
        find_records([empty])


# --- records from other tools: EDF, and a monitoring record with a lead map -------------------


def test_an_edf_record_is_predicted_as_its_wfdb_original(trained, sample_data, tmp_path, capsys):
    import wfdb.io.convert.edf as edf

    from ecg_tl_keras import cli

    original = sample_data / "ptbxl" / "records100" / "00000" / "00001_lr"
    edf_path = tmp_path / "00001_lr.edf"
    edf.wfdb_to_edf(str(original), output_filename=str(edf_path))
    capsys.readouterr()  # wfdb says what it converted
    assert cli.main(["predict", "--checkpoint", str(trained), str(edf_path),
                     f"{original}.hea", "--format", "json"]) == 0
    from_edf, from_wfdb = json.loads(capsys.readouterr().out)["records"]
    assert from_edf["record"] == str(edf_path) and from_edf["status"] == "ok"
    for label, decided in from_edf["labels"].items():
        assert decided["probability"] == pytest.approx(
            from_wfdb["labels"][label]["probability"], abs=1e-3)


def _monitoring_records(sample_data, folder, count):
    """PTB-XL sample records rewritten as a bedside monitor writes them: lead II named MLII,
    V5 named V, and a blood-pressure channel (mmHg) beside them; labels NORM/ABN."""
    import ast

    import pandas as pd
    import wfdb

    table = pd.read_csv(sample_data / "ptbxl" / "ptbxl_database.csv").sort_values("ecg_id")
    rows = []
    folder.mkdir(parents=True)
    for row in table.head(count).itertuples():
        signal, fields = wfdb.rdsamp(str(sample_data / "ptbxl" / row.filename_lr))
        leads = [fields["sig_name"].index(name) for name in ("II", "V5")]
        pressure = 90 + 30 * np.sin(np.arange(len(signal)) / 15.0)
        name = f"m{row.ecg_id:05d}"
        wfdb.wrsamp(name, fs=fields["fs"], units=["mV", "mV", "mmHg"],
                    sig_name=["MLII", "V", "ABP"],
                    p_signal=np.column_stack([signal[:, leads], pressure]),
                    fmt=["16"] * 3, adc_gain=[1000.0, 1000.0, 10.0], baseline=[0] * 3,
                    write_dir=str(folder))
        normal = "NORM" in ast.literal_eval(row.scp_codes)
        rows.append({"record": name, "patient": f"p{int(row.patient_id)}",
                     "NORM": int(normal), "ABN": int(not normal)})
    labels = folder.parent / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return labels


def test_a_lead_mapped_build_predicts_a_monitoring_record_end_to_end(sample_data, tmp_path,
                                                                     capsys):
    import keras

    from builder_fixtures import quiet_build
    from ecg_tl_keras import cli
    from ecg_tl_keras.training import TrainConfig, train
    from ecg_tl_keras.training.checkpoints import load_checkpoint

    source = tmp_path / "monitor"
    labels = _monitoring_records(sample_data, source, 60)
    quiet_build("folder", source, tmp_path / "out", labels=labels, name="monitor", leads="II",
                lead_map="MLII=II")
    model = keras.Sequential([keras.Input((1000, 1)), keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(2, activation="sigmoid")])
    train(TrainConfig(data=str(tmp_path / "out" / "monitor"), out=str(tmp_path / "run"),
                      model="pooling", epochs=1, batch_size=16, verbose=0), model=model)
    checkpoint = tmp_path / "run" / "best.keras"
    model, metadata = load_checkpoint(checkpoint)
    assert metadata["leads"] == ["II"] and metadata["lead_map"] == {"MLII": "II"}
    assert metadata["thresholds"]["rule"].startswith("max F1")
    record = next(iter(sorted(source.glob("*.hea"))))
    (source / "other.hea").write_text("other 1 100 1000\nother.dat 16 1000 16 0 0 0 0 ECG\n")
    capsys.readouterr()  # what training printed

    assert cli.main(["predict", "--checkpoint", str(checkpoint), "--lead-map", "MLII=II",
                     str(record), str(source / "other.hea"), "--format", "json"]) == 1
    mapped, other = json.loads(capsys.readouterr().out)["records"]
    expected = model.predict(read_any_record(record, leads=("II",), lead_map="MLII=II")[None],
                             verbose=0)[0]
    assert [mapped["labels"][label]["probability"] for label in metadata["labels"]] == \
        pytest.approx(expected.tolist(), abs=1e-6)
    assert other["status"] == "failed" and "missing lead II" in other["reason"]
    assert "ECG" in other["reason"]  # the reason lists the record's channels

    # without --lead-map, the checkpoint's (its training data's) lead map reads the record,
    # also as EDF (wfdb's writer), blood pressure channel included
    import wfdb.io.convert.edf as edf

    edf_path = tmp_path / "bedside.edf"
    edf.wfdb_to_edf(str(record.with_suffix("")), output_filename=str(edf_path))
    capsys.readouterr()
    assert cli.main(["predict", "--checkpoint", str(checkpoint), str(record), str(edf_path),
                     "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["reading"]["lead_map"] == "MLII=II"
    from_wfdb, from_edf = document["records"]
    assert from_wfdb["labels"] == mapped["labels"]
    for label, decided in from_edf["labels"].items():
        assert decided["probability"] == pytest.approx(
            mapped["labels"][label]["probability"], abs=1e-3)


def test_a_record_of_another_shape_than_the_models_input_is_a_failed_row(sample_data, tmp_path):
    import keras

    from ecg_tl_keras.training.prediction import predict_batch

    checkpoint = tmp_path / "three_leads.keras"  # a plain Keras model: no metadata, no leads
    keras.Sequential([keras.Input((1000, 3)), keras.layers.GlobalAveragePooling1D(),
                      keras.layers.Dense(1, activation="sigmoid")]).save(checkpoint)
    record = sample_data / "ptbxl" / "records100" / "00000" / "00001_lr.hea"
    result = predict_batch(str(checkpoint), [str(record)])
    (row,) = result.rows
    assert row.status == "failed" and row.probabilities is None
    assert row.reason == f"{record} reads as (1000, 12), the model takes (1000, 3)"
    assert result.labels == ["label_0"] and "stores no decision thresholds" in \
        result.thresholds.source
    with pytest.raises(ValueError, match="reads as"):
        predict_records(str(checkpoint), [str(record)])


def test_predict_reads_at_the_rate_the_checkpoints_data_was_built_at(sample_data, tmp_path):
    import keras

    from ecg_tl_keras.training.prediction import predict_batch

    record = sorted((sample_data / "georgia").glob("*.hea"))[0]  # 500 Hz
    checkpoint = tmp_path / "native.keras"
    model = keras.Sequential([keras.Input((5000, 12)), keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(1, activation="sigmoid")])
    save_checkpoint(model, checkpoint, {"labels": ["A"], "fs": 500, "seconds": 10})
    (row,) = predict_batch(str(checkpoint), [str(record)]).rows
    expected = model.predict(read_any_record(record, rate=500, seconds=10)[None], verbose=0)[0]
    assert row.status == "ok"
    np.testing.assert_allclose(row.probabilities, expected, atol=1e-6)
