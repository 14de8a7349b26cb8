"""Training, prediction and saving: tiny synthetic data, one or two epochs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from fkd.configs import get_config
from fkd.keypoints import COORDINATE_COLUMNS, mirror_normalised, normalise, to_pixels
from fkd.models import build_model
from fkd.train import (
    PixelRMSE,
    apply_missing_policy,
    load_model,
    masked_mse,
    predict,
    save_model,
    train,
)

REPO = Path(__file__).resolve().parents[1]
TINY_CNN = get_config("cnn_flip").replace(filters=(4, 8), dense_units=8, batch_size=16)
LEFT_EYE_X = COORDINATE_COLUMNS.index("left_eye_center_x")
RIGHT_EYE_X = COORDINATE_COLUMNS.index("right_eye_center_x")


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 96, 96), dtype=np.uint8)
    keypoints = rng.uniform(20, 76, (n, 30)).astype(np.float32)
    return images, keypoints


def val_rmse(seed: int) -> float:
    images, keypoints = synthetic(64)
    result = train(TINY_CNN, images[:48], keypoints[:48], images[48:], keypoints[48:],
                   seed=seed, epochs=2, progress=False)
    return result.history["val_rmse"][-1]


@pytest.fixture(scope="module")
def trained():
    images, keypoints = synthetic(48)
    keypoints[::2, 4:20] = np.nan
    result = train(TINY_CNN.replace(missing="masked"), images[:32], keypoints[:32],
                   images[32:], keypoints[32:], seed=1, epochs=2, progress=False)
    return result, images[32:], keypoints[32:]


# --- missing keypoints -------------------------------------------------------------


def rows_with_gaps() -> np.ndarray:
    keypoints = np.arange(5 * 30, dtype=np.float32).reshape(5, 30)
    keypoints[0, 3] = np.nan  # nothing above to fill from
    keypoints[2, 5] = np.nan
    keypoints[3, 5] = np.nan
    keypoints[4, :] = np.nan
    return keypoints


def test_dropna_keeps_complete_rows_only():
    rows, targets = apply_missing_policy(rows_with_gaps(), "dropna")
    assert rows.tolist() == [1]
    assert not np.isnan(targets).any()


def test_ffill_fills_from_the_row_above_and_drops_what_it_cannot_fill():
    keypoints = rows_with_gaps()
    rows, targets = apply_missing_policy(keypoints, "ffill")
    assert rows.tolist() == [1, 2, 3, 4]  # row 0 has no row above to fill from
    expected = keypoints[[1, 2, 3, 3]].copy()  # the empty row 4 copies row 3...
    expected[1:, 5] = keypoints[1, 5]  # ...and rows 2-4 take column 5 from row 1
    np.testing.assert_array_equal(targets, expected)


def test_masked_keeps_every_labelled_row_with_its_gaps():
    keypoints = rows_with_gaps()
    rows, targets = apply_missing_policy(keypoints, "masked")
    assert rows.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(np.isnan(targets), np.isnan(keypoints[:4]))


# --- loss and metric ---------------------------------------------------------------


def test_masked_mse_averages_over_present_coordinates_only():
    y_true = tf.constant([[1.0, np.nan, 0.0], [np.nan, np.nan, 2.0]])
    y_pred = tf.constant([[0.0, 100.0, 0.5], [100.0, -100.0, 0.0]])
    # present errors: 1, 0.5, 2 -> (1 + 0.25 + 4) / 3
    assert float(masked_mse(y_true, y_pred)) == pytest.approx(5.25 / 3)


def test_masked_mse_gradient_has_no_nan():
    y_true = tf.constant([[np.nan, 0.5]])
    y_pred = tf.Variable([[0.3, 0.0]])
    with tf.GradientTape() as tape:
        loss = masked_mse(y_true, y_pred)
    gradient = tape.gradient(loss, y_pred).numpy()
    np.testing.assert_allclose(gradient, [[0.0, -1.0]])  # d/dp (p - 0.5)^2 = -1 at p = 0


def test_pixel_rmse_pools_squared_errors_across_batches():
    metric = PixelRMSE()
    metric.update_state(tf.constant([[0.0, np.nan]]), tf.constant([[0.5, 9.0]]))  # 24 px
    metric.update_state(tf.constant([[0.0, 0.0]]), tf.constant([[0.0, 0.25]]))  # 0, 12 px
    expected = np.sqrt((24**2 + 0 + 12**2) / 3)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-6)


# --- training ----------------------------------------------------------------------


def test_same_seed_gives_identical_results_other_seed_differs():
    first, again, other = val_rmse(seed=5), val_rmse(seed=5), val_rmse(seed=6)
    assert first == pytest.approx(again, abs=1e-6)
    assert abs(first - other) > 1e-4


def test_history_lists_loss_and_val_rmse_per_epoch(trained):
    result, _, _ = trained
    assert result.epochs == 2
    for key in ("loss", "val_loss", "val_rmse"):
        assert len(result.history[key]) == 2
        assert all(isinstance(value, float) and np.isfinite(value) for value in result.history[key])


def test_history_times_every_epoch_for_time_to_accuracy(trained):
    result, _, _ = trained
    wall, cpu = result.history["seconds"], result.history["cpu_seconds"]
    assert len(wall) == len(cpu) == result.epochs
    assert 0 < wall[0] < wall[1] <= result.seconds
    assert 0 < cpu[0] <= cpu[1]


def test_last_val_rmse_is_the_masked_pixel_rmse_of_predict(trained):
    result, val_images, val_keypoints = trained
    predicted = predict(result.model, result.config, val_images)
    present = ~np.isnan(val_keypoints)
    rmse = np.sqrt(np.mean((predicted[present] - val_keypoints[present]) ** 2))
    assert result.history["val_rmse"][-1] == pytest.approx(rmse, rel=1e-4)


def test_images_per_second_counts_training_rows_over_fit_time(trained):
    result, _, _ = trained
    assert result.images_per_second == pytest.approx(2 * 32 / result.seconds)


def test_progress_bar_only_when_asked(capsys):
    images, keypoints = synthetic(16)
    train(TINY_CNN, images, keypoints, epochs=1, progress=False)
    assert "epoch" not in capsys.readouterr().err
    train(TINY_CNN, images, keypoints, epochs=1, progress=True)
    assert "1/1" in capsys.readouterr().err


def test_knn_with_k1_recalls_its_training_keypoints_in_pixels():
    images, keypoints = synthetic(12)
    keypoints[3, 0] = np.nan
    config = get_config("knn").replace(k=1)
    result = train(config, images, keypoints, images, keypoints, progress=False)
    complete = np.flatnonzero(~np.isnan(keypoints).any(axis=1))
    predicted = predict(result.model, config, images[complete])
    np.testing.assert_allclose(predicted, keypoints[complete], atol=1e-4)
    assert result.history["loss"] == [pytest.approx(0.0, abs=1e-10)]


def test_knn_refuses_the_masked_policy():
    images, keypoints = synthetic(4)
    with pytest.raises(ValueError, match="dropna"):
        train(get_config("knn").replace(missing="masked"), images, keypoints, progress=False)


def test_images_must_be_uint8():
    images, keypoints = synthetic(4)
    with pytest.raises(TypeError, match="uint8"):
        train(TINY_CNN, images / 255.0, keypoints, progress=False)


# --- prediction --------------------------------------------------------------------


def zero_model() -> keras.Model:
    model = build_model(get_config("nn2").replace(hidden_units=2))
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    return model


def test_predict_answers_in_pixels():
    images, _ = synthetic(3)
    predicted = predict(zero_model(), get_config("nn2"), images)
    assert predicted.dtype == np.float32 and predicted.shape == (3, 30)
    np.testing.assert_array_equal(predicted, 48.0)


def test_mirroring_negates_x_and_swaps_left_and_right():
    predictions = np.zeros((1, 30), np.float32)
    predictions[0, LEFT_EYE_X : LEFT_EYE_X + 2] = (0.25, 0.1)
    unflipped = mirror_normalised(predictions)
    np.testing.assert_allclose(unflipped[0, RIGHT_EYE_X : RIGHT_EYE_X + 2], (-0.25, 0.1))
    np.testing.assert_allclose(unflipped[0, LEFT_EYE_X : LEFT_EYE_X + 2], (0.0, 0.0))


def test_flip_tta_answers_a_mirrored_face_with_mirrored_keypoints(trained):
    result, images, _ = trained
    config = result.config.replace(tta_flip=True)
    direct = predict(result.model, config, images)
    mirrored = predict(result.model, config, np.ascontiguousarray(images[:, :, ::-1]))
    expected = to_pixels(mirror_normalised(normalise(mirrored)))
    np.testing.assert_allclose(direct, expected, atol=1e-3)
    assert not np.allclose(direct, predict(result.model, result.config, images), atol=1e-3)


# --- saving ------------------------------------------------------------------------


def test_save_and_load_give_identical_predictions(trained, tmp_path):
    result, images, _ = trained
    path = tmp_path / "models" / "tiny.keras"
    save_model(result.model, path)
    loaded = load_model(path)
    assert loaded.name == result.model.name
    np.testing.assert_array_equal(
        predict(loaded, result.config, images), predict(result.model, result.config, images)
    )
    assert [p.name for p in path.parent.iterdir()] == ["tiny.keras"]  # no temporary left behind


def test_save_replaces_an_existing_file(trained, tmp_path):
    result, _, _ = trained
    path = tmp_path / "model.keras"
    path.write_text("stale")
    save_model(result.model, path)
    assert load_model(path).count_params() == result.model.count_params()


# --- devices -----------------------------------------------------------------------


def run_python(script: str) -> str:
    """Run ``script`` in a fresh interpreter (TensorFlow not yet started); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_mirrored_strategy_trains_over_two_logical_cpus():
    # Logical devices must be configured before TensorFlow starts: a fresh process.
    script = textwrap.dedent(
        """
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from fkd.configs import get_config
        from fkd.train import strategy_for_devices, train
        strategy = strategy_for_devices(["/cpu:0", "/cpu:1"])
        assert isinstance(strategy, tf.distribute.MirroredStrategy), strategy
        assert strategy.num_replicas_in_sync == 2
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (32, 96, 96), dtype=np.uint8)
        keypoints = rng.uniform(20, 76, (32, 30)).astype(np.float32)
        config = get_config("cnn_flip").replace(filters=(4, 8), dense_units=8, batch_size=8)
        result = train(config, images, keypoints, images[:8], keypoints[:8], epochs=1,
                       progress=False, strategy=strategy)
        assert np.isfinite(result.history["val_rmse"][0])
        print("TRAINED", result.history["loss"][0])
        """
    )
    assert "TRAINED" in run_python(script)


@pytest.mark.slow
def test_tf_config_selects_multi_worker_training():
    # A one-worker "cluster" on localhost: the same code path as several machines.
    script = textwrap.dedent(
        """
        import json, os, socket
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            port = probe.getsockname()[1]
        os.environ["TF_CONFIG"] = json.dumps(
            {"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}}
        )
        import numpy as np, tensorflow as tf
        from fkd.configs import get_config
        from fkd.train import strategy_for_devices, train
        assert isinstance(strategy_for_devices(), tf.distribute.MultiWorkerMirroredStrategy)
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (16, 96, 96), dtype=np.uint8)
        keypoints = rng.uniform(20, 76, (16, 30)).astype(np.float32)
        config = get_config("cnn_flip").replace(filters=(4, 8), dense_units=8, batch_size=8)
        result = train(config, images, keypoints, epochs=1, progress=False)
        print("TRAINED", result.history["loss"][0])
        """
    )
    assert "TRAINED" in run_python(script)


def test_k_nn_with_fewer_faces_than_k_is_refused_in_one_line():
    from fkd.configs import get_config
    from fkd.data import DataError
    from fkd.train import train

    from tests.helpers import tiny_faces

    images, keypoints = tiny_faces(4)
    with pytest.raises(DataError, match="k-NN with k = 5 needs at least 5 training faces .* these data have 3"):
        train(get_config("knn"), images, keypoints)
