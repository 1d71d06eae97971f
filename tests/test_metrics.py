"""ecg_tl_keras.metrics against scikit-learn and keras.metrics.F1Score."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from ecg_tl_keras import metrics


def _random_case(seed, records=200, labels=6):
    rng = np.random.default_rng(seed)
    y_true = (rng.random((records, labels)) < rng.uniform(0.05, 0.5, labels)).astype(np.int64)
    y_true[:, -1] = 0  # a label without positives
    y_prob = np.clip(0.6 * y_true + rng.normal(0.2, 0.25, y_true.shape), 0, 1)
    return y_true, y_prob


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_f1_scores_equal_sklearn(seed):
    y_true, y_prob = _random_case(seed)
    y_pred = (y_prob > 0.5).astype(int)
    for average, ours in (("weighted", metrics.weighted_f1), ("macro", metrics.macro_f1)):
        expected = f1_score(y_true, y_pred, average=average, zero_division=0)
        assert ours(y_true, y_prob) == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(
        metrics.per_label_f1(y_true, y_prob),
        f1_score(y_true, y_pred, average=None, zero_division=0),
        atol=1e-12,
    )


def test_weighted_f1_matches_keras_f1score():
    import keras

    y_true, y_prob = _random_case(3)
    keras_metric = keras.metrics.F1Score(average="weighted", threshold=0.5)
    keras_metric.update_state(y_true.astype("float32"), y_prob.astype("float32"))
    assert metrics.weighted_f1(y_true, y_prob) == pytest.approx(
        float(keras_metric.result()), abs=1e-5
    )


def test_threshold_is_strictly_greater_like_keras():
    y_true = np.array([[1], [0]])
    assert metrics.weighted_f1(y_true, np.array([[0.5], [0.0]])) == 0.0
    assert metrics.weighted_f1(y_true, np.array([[0.5001], [0.0]])) == 1.0


def test_weighted_f1_without_any_positive_is_zero():
    assert metrics.weighted_f1(np.zeros((3, 2)), np.full((3, 2), 0.9)) == 0.0


def test_macro_auc_skips_single_class_labels():
    y_true, y_prob = _random_case(4)
    y_true[:, 0] = 1  # only positives
    result = metrics.macro_auc(y_true, y_prob, [f"L{i}" for i in range(6)])
    assert result["auc_skipped_labels"] == ["L0", "L5"]
    assert result["auc_labels"] == ["L1", "L2", "L3", "L4"]
    assert result["macro_auc"] == pytest.approx(
        roc_auc_score(y_true[:, 1:5], y_prob[:, 1:5], average="macro")
    )


def test_macro_auc_is_none_when_no_label_qualifies():
    result = metrics.macro_auc(
        np.zeros((4, 2)), np.random.default_rng(0).random((4, 2)), ["A", "B"]
    )
    assert result == {"macro_auc": None, "auc_labels": [], "auc_skipped_labels": ["A", "B"]}


def test_classification_report_names_labels():
    y_true, y_prob = _random_case(5, labels=3)
    report = metrics.classification_report(y_true, y_prob, ["NORM", "MI", "CD"])
    assert list(report["per_label_f1"]) == ["NORM", "MI", "CD"]
    assert report["records"] == 200
    assert report["weighted_f1"] == metrics.weighted_f1(y_true, y_prob)


@pytest.mark.parametrize("y_prob", [np.zeros((4, 3)), np.zeros(4)])
def test_shape_mismatch_is_a_clear_error(y_prob):
    with pytest.raises(ValueError, match="shape"):
        metrics.weighted_f1(np.zeros((4, 2)), y_prob)


def test_label_name_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="label names"):
        metrics.classification_report(np.zeros((2, 2)), np.zeros((2, 2)), ["A"])


@pytest.fixture
def brier():
    """A user metric (mean squared error of the probabilities), lower is better; removed after."""
    def brier_score(y_true, y_prob):
        return float(np.mean((y_prob - y_true) ** 2))

    metrics.register_metric("brier", brier_score, higher_is_better=False)
    yield brier_score
    metrics.unregister_metric("brier")


@pytest.mark.parametrize("name", ["weighted_f1", "macro_f1", "macro_auc"])
def test_the_builtin_metrics_are_registered_and_pass_the_harness(name):
    from ecg_tl_keras.testing import check_metric

    summary = check_metric(name)
    # macro F1 counts the label without positives as 0 (3 of 4 labels perfect)
    assert summary["perfect"] == (0.75 if name == "macro_f1" else 1.0)
    assert summary["mode"] == "max" and summary["inverted"] == 0.0


def test_a_user_metric_is_computed_everywhere_the_builtins_are(brier):
    from ecg_tl_keras.testing import check_metric
    from ecg_tl_keras.training.callbacks import split_metrics
    from ecg_tl_keras.training.config import TrainConfig, monitor_mode

    y_true, y_prob = _random_case(0)
    expected = brier(y_true, y_prob)
    assert metrics.compute_metrics(y_true, y_prob)["brier"] == pytest.approx(expected)
    assert split_metrics("val", y_true, y_prob)["val_brier"] == pytest.approx(expected)
    report = metrics.classification_report(y_true, y_prob, list("ABCDEF"))
    assert report["metrics"]["brier"] == pytest.approx(expected)
    assert report["metrics"]["weighted_f1"] == report["weighted_f1"]
    assert check_metric("brier") == {"random": pytest.approx(brier(*_check_metric_case())),
                                     "perfect": 0.0, "inverted": 1.0, "mode": "min"}
    assert monitor_mode("val_brier") == "min"
    assert TrainConfig(data="d", model="gru", out="o", monitor="val_brier").monitor_mode == "min"


def _check_metric_case():
    rng = np.random.default_rng(0)
    y_true = (rng.random((40, 4)) < 0.4).astype(np.int64)
    y_true[:, -1] = 0
    return y_true, rng.random((40, 4))


def test_a_duplicate_or_reserved_metric_is_refused_in_one_line(brier):
    with pytest.raises(ValueError) as error:
        metrics.register_metric("brier", lambda y_true, y_prob: 0.0)
    assert "\n" not in str(error.value)
    assert str(error.value).startswith("metric 'brier' is already registered (")
    with pytest.raises(ValueError, match="built in"):
        metrics.register_metric("weighted_f1", brier, override=True)
    with pytest.raises(ValueError, match="reserved"):
        metrics.register_metric("val_loss", brier)
    with pytest.raises(ValueError, match="lower-case word"):
        metrics.register_metric("Brier Score", brier)


def test_a_metric_that_returns_no_number_is_named():
    from ecg_tl_keras.testing import check_metric

    metrics.register_metric("broken", lambda y_true, y_prob: "high")
    try:
        with pytest.raises(ValueError, match="metric 'broken' returned 'high', not a number"):
            check_metric("broken")
    finally:
        metrics.unregister_metric("broken")
