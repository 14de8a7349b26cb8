"""The third round's levers: losses, stems, per-image inputs, weight averages, cosine cycles,
snapshot ensembles, pseudo-labels and the mirror axis -- each off by default, each checked by hand."""

from __future__ import annotations

import importlib.util
import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from fkd.augment import estimate_mirror_axis, flip_half, flip_targets, horizontal_offset
from fkd.configs import LEVERS, REGISTRY, ModelConfig, get_config
from fkd.data import Dataset
from fkd.experiment import run_experiment
from fkd.keypoints import COORDINATE_COLUMNS, FLIP_PAIRS, HALF, mirror_normalised, mirror_pixels, normalise
from fkd.models import build_model, model_mirror_axis, snapshot_ensemble, space_to_depth
from fkd.train import (
    MaskedKeypointLoss,
    WeightAverage,
    cycle_lengths,
    keypoint_loss,
    load_model,
    masked_mse,
    predict,
    pseudo_labels,
    save_model,
    train,
)

TINY = get_config("best").replace(filters=(4, 4, 4, 4, 4), dense_units=8, batch_size=16)
LEFT_EYE_X = COORDINATE_COLUMNS.index("left_eye_center_x")
RIGHT_EYE_X = COORDINATE_COLUMNS.index("right_eye_center_x")


def column(name: str) -> int:
    return COORDINATE_COLUMNS.index(name)


# --- configs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(REGISTRY))
def test_registered_configs_leave_every_lever_off_and_their_json_unchanged(name):
    config = get_config(name)
    assert not set(LEVERS) & set(config.to_dict())  # the JSON (and run key) it had before the levers
    assert (config.loss, config.stem, config.input_norm, config.ema, config.cycles, config.snapshot_ensemble,
            config.pseudo_label_weight, config.mirror_axis) == ("mse", "conv", "none", 0.0, 1, False, 0.0, "centre")


def test_levers_round_trip_through_json_and_show_as_one_difference_each():
    config = TINY.replace(loss="wing", stem="space_to_depth", ema=0.999, cycles=4, snapshot_ensemble=True,
                          mirror_axis="estimated", input_norm="per_image")
    assert ModelConfig.from_json(config.to_json()) == config
    assert set(config.differences(TINY)) == {"loss", "stem", "ema", "cycles", "snapshot_ensemble", "mirror_axis",
                                             "input_norm"}


@pytest.mark.parametrize("changes, message", [
    ({"loss": "huber"}, "unknown loss"),
    ({"ema": 1.0}, "ema is a momentum"),
    ({"stem": "space_to_depth", "pool_after": (False, True, True, True, True)}, "replaces the first max-pool"),
    ({"snapshot_ensemble": True}, "need cycles >= 2"),
    ({"cycles": 2, "schedule": "constant"}, "only with the cosine schedule"),
    ({"cycles": 2, "pseudo_label_weight": 0.5, "missing": "dropna"}, "missing='masked'"),
    ({"wing_width": 0.0}, "must be positive"),
])
def test_meaningless_lever_values_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        TINY.replace(**changes)


# --- losses ------------------------------------------------------------------------------------


def loss_of(kind: str, errors_px: list[float], **options) -> float:
    """The loss of one face whose first coordinates are off by ``errors_px`` (the rest missing)."""
    truth = np.full((1, 30), np.nan, np.float32)
    truth[0, :len(errors_px)] = 0.0
    prediction = np.zeros((1, 30), np.float32)
    prediction[0, :len(errors_px)] = np.asarray(errors_px, np.float32) / HALF
    return float(MaskedKeypointLoss(kind, **options)(truth, prediction))


def test_wing_loss_is_logarithmic_below_w_and_linear_above():
    # w = 10, epsilon = 2 (the paper's): 10 ln(1 + 1/2) below w; |e| - (10 - 10 ln 6) above.
    assert loss_of("wing", [1.0]) == pytest.approx(10 * math.log(1.5), rel=1e-5)
    assert loss_of("wing", [-12.0]) == pytest.approx(12 - 10 + 10 * math.log(6), rel=1e-5)
    assert loss_of("wing", [10.0 - 1e-3]) == pytest.approx(loss_of("wing", [10.0 + 1e-3]), abs=3e-3)  # continuous
    assert loss_of("wing", [1.0], width=4.0, curvature=1.0) == pytest.approx(4 * math.log(2), rel=1e-5)


def test_l1_and_smooth_l1_by_hand():
    assert loss_of("l1", [-3.0, 1.0]) == pytest.approx(2.0)
    assert loss_of("smooth_l1", [0.5]) == pytest.approx(0.5 * 0.25)  # quadratic below beta = 1
    assert loss_of("smooth_l1", [3.0]) == pytest.approx(2.5)  # |e| - beta / 2 above
    assert loss_of("smooth_l1", [3.0], beta=4.0) == pytest.approx(0.5 * 9 / 4)


def test_losses_average_over_present_coordinates_with_their_weights():
    truth = np.array([[0.0, 0.0, np.nan] + [np.nan] * 27], np.float32)
    prediction = np.zeros((1, 30), np.float32)
    prediction[0, :3] = np.array([2.0, 4.0, 100.0]) / HALF
    weights = np.ones((1, 30), np.float32)
    weights[0, 1] = 0.5
    # (1 x 2 + 0.5 x 4) / (1 + 0.5); the missing third coordinate counts for nothing.
    assert float(MaskedKeypointLoss("l1")(truth, prediction, weights)) == pytest.approx(4 / 1.5)


def test_mse_kind_is_the_default_masked_mse_in_pixels():
    rng = np.random.default_rng(0)
    truth = rng.uniform(-1, 1, (4, 30)).astype(np.float32)
    truth[1, 5:9] = np.nan
    prediction = rng.uniform(-1, 1, (4, 30)).astype(np.float32)
    assert float(MaskedKeypointLoss("mse")(truth, prediction)) == pytest.approx(
        float(masked_mse(truth, prediction)) * HALF ** 2, rel=1e-5)
    assert keypoint_loss(get_config("best")) is masked_mse
    assert keypoint_loss(TINY.replace(loss="wing")).kind == "wing"


def test_sample_weights_from_a_dataset_reach_the_loss():
    model = constant_model(get_config("nn2").replace(hidden_units=2), np.zeros(30, np.float32))
    model.compile(optimizer="sgd", loss=MaskedKeypointLoss("l1"), jit_compile=False)
    truth = np.zeros((4, 30), np.float32)
    truth[:, :2] = np.array([1.0, 3.0]) / HALF  # off by 1 px and 3 px
    weights = np.ones((4, 30), np.float32)
    weights[:, 1] = 0.5
    batches = tf.data.Dataset.from_tensor_slices((np.zeros((4, 96, 96, 1), np.float32), truth, weights)).batch(2)
    assert model.evaluate(batches, verbose=0) == pytest.approx((1 + 0.5 * 3) / (28 + 1 + 0.5))


# --- stems and inputs --------------------------------------------------------------------------


def test_space_to_depth_folds_each_2x2_square_into_4_channels_like_tensorflow():
    fold = keras.Sequential([keras.Input((96, 96, 1)), *space_to_depth()])
    images = np.arange(2 * 96 * 96, dtype=np.float32).reshape(2, 96, 96, 1)
    folded = np.asarray(fold(images))
    assert folded.shape == (2, 48, 48, 4)
    np.testing.assert_array_equal(folded, tf.nn.space_to_depth(images, 2).numpy())
    np.testing.assert_array_equal(folded[0, 0, 0], [0, 1, 96, 97])  # row-major within the square


@pytest.mark.parametrize("stem", ["stride2", "space_to_depth"])
def test_a_stem_replaces_the_first_pool_so_later_layers_see_the_same_sizes(stem):
    plain, stemmed = build_model(get_config("best")), build_model(get_config("best").replace(stem=stem))
    assert stemmed.get_layer("conv1").output.shape == (None, 48, 48, 16)
    assert "pool1" not in [layer.name for layer in stemmed.layers]
    for name in ("conv2", "pool5", "dense", "keypoints"):
        assert stemmed.get_layer(name).output.shape == plain.get_layer(name).output.shape


def test_per_image_normalisation_makes_brightness_and_contrast_irrelevant():
    model = build_model(TINY.replace(input_norm="per_image"))
    image = np.random.default_rng(1).uniform(0.2, 0.6, (1, 96, 96, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(0.5 * image + 0.3)), np.asarray(model(image)), atol=1e-4)
    assert np.isfinite(np.asarray(model(np.zeros((1, 96, 96, 1), np.float32)))).all()  # a blank face


# --- the mirror axis -----------------------------------------------------------------------------

FEATURE_ROWS = {"eye_center": 30, "eye_inner_corner": 36, "eye_outer_corner": 24, "eyebrow_inner_end": 16,
                "eyebrow_outer_end": 10, "mouth": 70}
"""A pixel row for each pair of symmetric features, so their squares differ."""


def symmetric_faces(n: int, label_offset: float, centre: float = 46.0, seed: int = 0):
    """Mirror-symmetric drawn faces, centred at random whole x around ``centre`` (not 48), with
    labels ``label_offset`` px right of the pixel centres they mark.

    Each feature is a bright pixel with a dimmer one on its outer side and one above: its
    mirror image is its partner, not itself, so only the right axis lines the two up.
    """
    rng = np.random.default_rng(seed)
    images = np.full((n, 96, 96), 20, np.uint8)
    keypoints = np.full((n, 30), np.nan, np.float32)
    for i in range(n):
        axis = int(round(centre)) + int(rng.integers(-2, 3))  # the face's symmetry axis, a pixel border
        for k, (left, right) in enumerate(FLIP_PAIRS):
            row = FEATURE_ROWS[next(key for key in FEATURE_ROWS if key in left)]
            half_width = 6 + 3 * k
            for name, col, outward in ((left, axis + half_width, 1), (right, axis - half_width - 1, -1)):
                images[i, row, col] = 220
                images[i, row, col + outward] = 120
                images[i, row - 1, col] = 70
                keypoints[i, column(f"{name}_x")] = col + 0.5 + label_offset
                keypoints[i, column(f"{name}_y")] = row + 0.5
    return images, keypoints


@pytest.mark.parametrize("offset", [0.0, 0.6, -0.5])
def test_axis_estimate_recovers_a_known_label_offset_wherever_the_faces_sit(offset):
    images, keypoints = symmetric_faces(40, offset)
    assert estimate_mirror_axis(images, keypoints) == pytest.approx(HALF + offset, abs=0.03)
    # The pairs' label midpoints would have said where the faces sit (about 46), not the offset.
    midpoint = np.nanmean((keypoints[:, LEFT_EYE_X] + keypoints[:, RIGHT_EYE_X]) / 2)
    assert abs(midpoint - (HALF + offset)) > 1.5


def test_horizontal_offset_finds_a_subpixel_shift():
    columns = np.arange(25, dtype=np.float64)
    reference = np.exp(-((columns - 12.0) ** 2) / 8)[None, :].repeat(3, axis=0)
    moved = np.exp(-((columns - 12.7) ** 2) / 8)[None, :].repeat(3, axis=0)
    assert horizontal_offset(reference, moved) == pytest.approx(0.7, abs=0.02)


def test_mirroring_about_an_axis_reflects_x_and_swaps_labels():
    pixels = np.full(30, np.nan, np.float32)
    pixels[LEFT_EYE_X:LEFT_EYE_X + 2] = (60.0, 40.0)
    mirrored = mirror_pixels(pixels, axis=48.5)
    np.testing.assert_allclose(mirrored[RIGHT_EYE_X:RIGHT_EYE_X + 2], (37.0, 40.0), atol=1e-5)  # 2 x 48.5 - 60
    np.testing.assert_allclose(mirror_pixels(mirrored, axis=48.5)[LEFT_EYE_X:LEFT_EYE_X + 2], (60.0, 40.0), atol=1e-5)
    np.testing.assert_allclose(mirror_pixels(pixels)[RIGHT_EYE_X], 36.0)  # about the centre by default


def test_flip_augmentation_mirrors_labels_about_the_axis_and_moves_their_weights():
    targets = np.full((2, 30), 0.25, np.float32)
    weights = np.ones((2, 30), np.float32)
    weights[:, LEFT_EYE_X] = 0.5  # the left eye's x is a pseudo-label
    images = np.zeros((2, 96, 96, 1), np.float32)
    axis = float(normalise(49.0))
    flipped_images, flipped, moved = flip_half(images, targets, tf.constant([1, 2], tf.int64), axis, weights)
    np.testing.assert_allclose(np.asarray(flip_targets(targets, axis)), mirror_normalised(targets, axis))
    flipped_row = int(np.flatnonzero(np.asarray(flipped)[:, 0] != 0.25)[0])
    assert np.asarray(flipped)[flipped_row, LEFT_EYE_X] == pytest.approx(2 * axis - 0.25)
    assert np.asarray(moved)[flipped_row, RIGHT_EYE_X] == 0.5 and np.asarray(moved)[flipped_row, LEFT_EYE_X] == 1.0
    assert np.asarray(moved)[1 - flipped_row, LEFT_EYE_X] == 0.5  # the other half is untouched


def constant_model(config: ModelConfig, answer: np.ndarray, mirror_axis: float | None = None) -> keras.Model:
    """``config``'s network answering ``answer`` (normalised) to every face: zero weights, that bias."""
    model = build_model(config, mirror_axis)
    weights = [np.zeros_like(w) for w in model.get_weights()]
    weights[-1] = answer.astype(np.float32)
    model.set_weights(weights)
    return model


def test_flip_tta_mirrors_back_about_the_axis_the_model_carries(tmp_path):
    config = get_config("nn2").replace(hidden_units=2, tta_flip=True)
    images = np.zeros((2, 96, 96), np.uint8)
    # Every x at 0.1 (52.8 px): the mirrored answer, mirrored back about a, is 2a - 0.1, so TTA gives a.
    answer = np.tile(np.float32([0.1, 0.0]), 15)
    assert predict(constant_model(config, answer), config, images)[0, LEFT_EYE_X] == pytest.approx(48.0)
    carried = constant_model(config, answer, mirror_axis=49.0)
    assert predict(carried, config, images)[0, LEFT_EYE_X] == pytest.approx(49.0)
    save_model(carried, tmp_path / "axis.keras")
    loaded = load_model(tmp_path / "axis.keras")
    assert model_mirror_axis(loaded) == 49.0
    np.testing.assert_array_equal(predict(loaded, config, images), predict(carried, config, images))


def test_training_estimates_the_axis_records_it_and_keeps_it_in_the_model():
    images, keypoints = symmetric_faces(48, 0.6)
    config = TINY.replace(mirror_axis="estimated", epochs=1)
    result = train(config, images[:32], keypoints[:32], images[32:], keypoints[32:], seed=0, progress=False)
    assert result.history["mirror_axis"] == [pytest.approx(48.6, abs=0.03)]
    assert model_mirror_axis(result.model) == result.history["mirror_axis"][0]
    json.dumps(result.history)  # still plain lists of numbers


# --- weight averages ------------------------------------------------------------------------------


class FakeModel:
    """Just enough of a Keras model for a callback: one weight, set by hand."""

    def __init__(self, value: float) -> None:
        self.weights = [np.array([value], np.float32)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w, np.float32) for w in weights]


def test_weight_average_is_the_bias_corrected_moving_average():
    model = FakeModel(0.0)
    average = WeightAverage(0.5)
    average.set_model(model)
    average.on_train_begin()
    for value in (1.0, 3.0):  # the weights after two steps
        model.set_weights([[value]])
        average.on_train_batch_end(0)
    # (m w1 + w2) / (1 + m) with m = 0.5
    assert average.average()[0][0] == pytest.approx((0.5 * 1 + 3) / 1.5)
    average.on_test_begin()
    assert model.weights[0][0] == pytest.approx(7 / 3)  # validation sees the average ...
    average.on_test_end()
    assert model.weights[0][0] == 3.0  # ... and training goes on from its own weights
    average.on_train_end()
    assert model.weights[0][0] == pytest.approx(7 / 3)


def test_training_with_ema_ends_with_the_average_of_every_steps_weights():
    class Steps(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.weights = []

        def on_train_batch_end(self, batch, logs=None):
            self.weights.append(self.model.get_weights())

    images, keypoints = symmetric_faces(48, 0.0)
    keypoints = np.nan_to_num(keypoints, nan=48.0)
    config = get_config("nn2").replace(hidden_units=4, ema=0.6, epochs=1, batch_size=16)
    steps = Steps()
    result = train(config, images, keypoints, images[:8], keypoints[:8], seed=0, progress=False, callbacks=[steps])
    m, t = 0.6, len(steps.weights)
    assert t == 3
    for i, final in enumerate(result.model.get_weights()):
        expected = sum((1 - m) * m ** (t - 1 - s) * steps.weights[s][i] for s in range(t)) / (1 - m ** t)
        np.testing.assert_allclose(final, expected, rtol=1e-5, atol=1e-6)
    # the last validation pass scored the averaged network, the one that predicts
    last = predict(result.model, config, images[:8])
    assert result.history["val_rmse"][-1] == pytest.approx(
        float(np.sqrt(np.mean((last - keypoints[:8]) ** 2))), rel=1e-4)


# --- cosine cycles, snapshot ensembles, pseudo-labels --------------------------------------------


def test_cycles_split_the_epochs_evenly_and_need_one_epoch_each():
    assert cycle_lengths(200, 4) == [50, 50, 50, 50]
    assert cycle_lengths(5, 2) == [2, 3]
    with pytest.raises(ValueError, match="cannot hold 4 cosine cycles"):
        cycle_lengths(3, 4)


def test_a_snapshot_ensemble_is_one_model_that_averages_its_members(tmp_path):
    config = TINY.replace(tta_flip=True, cycles=2, snapshot_ensemble=True)
    members = [build_model(config) for _ in range(2)]
    ensemble = snapshot_ensemble(config, [member.get_weights() for member in members], mirror_axis=48.5)
    images = np.random.default_rng(0).integers(0, 256, (3, 96, 96), dtype=np.uint8)
    batch = images[..., None].astype(np.float32) / 255
    mean = (np.asarray(members[0](batch)) + np.asarray(members[1](batch))) / 2
    np.testing.assert_allclose(np.asarray(ensemble(batch)), mean, atol=1e-6)
    assert ensemble.name == config.name and model_mirror_axis(ensemble) == 48.5
    save_model(ensemble, tmp_path / "ensemble.keras")
    loaded = load_model(tmp_path / "ensemble.keras")  # safe_mode: no Lambda, registered layers only
    np.testing.assert_array_equal(predict(loaded, config, images), predict(ensemble, config, images))


def test_each_cycle_restarts_the_cosine_schedule_and_the_run_returns_the_ensemble():
    class FirstRates(keras.callbacks.Callback):
        rates: list[float] = []

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0 and self.model.optimizer.iterations == 0:
                self.rates.append(float(self.model.optimizer.learning_rate))

    images, keypoints = symmetric_faces(40, 0.0)
    config = TINY.replace(cycles=2, snapshot_ensemble=True, epochs=4)
    rates = FirstRates()
    result = train(config, images[:32], keypoints[:32], images[32:], keypoints[32:], seed=0, progress=False,
                   callbacks=[rates])
    assert rates.rates == [pytest.approx(config.learning_rate)] * 2
    assert [layer.name for layer in result.model.layers if isinstance(layer, keras.Model)] == ["snapshot1",
                                                                                             "snapshot2"]
    assert len(result.history["val_rmse"]) == len(result.history["alive"]) == 4
    assert np.all(np.diff(result.history["cpu_seconds"]) > 0)  # one clock across both cycles


def test_pseudo_labels_fill_only_missing_coordinates_with_their_weight():
    config = get_config("nn2").replace(hidden_units=2, missing="masked")
    model = constant_model(config, np.full(30, 0.25, np.float32))  # answers 60 px everywhere
    targets = np.full((2, 30), 30.0, np.float32)
    targets[0, 4:8] = np.nan
    filled, weights = pseudo_labels(model, config, np.zeros((2, 96, 96), np.uint8), targets, 0.3)
    expected = targets.copy()
    expected[0, 4:8] = 60.0
    np.testing.assert_array_equal(filled, expected)
    assert weights[0, 4:8].tolist() == [pytest.approx(0.3)] * 4
    assert weights.sum() == pytest.approx(60 - 4 + 4 * 0.3)


def test_self_training_learns_from_pseudo_labels_in_its_later_cycles(monkeypatch):
    import fkd.train as training

    fed = []

    def recording_dataset(images, targets, *args):
        fed.append((targets, args[-1]))  # normalised targets and their weights
        return real_dataset(images, targets, *args)

    real_dataset = training.training_dataset
    monkeypatch.setattr(training, "training_dataset", recording_dataset)
    images, keypoints = symmetric_faces(40, 0.0)
    keypoints[::2, 4:] = np.nan  # half the faces have two keypoints only
    config = TINY.replace(cycles=2, pseudo_label_weight=0.5, epochs=2)
    result = train(config, images[:32], keypoints[:32], images[32:], keypoints[32:], seed=0, progress=False)
    (first, no_weights), (second, weights) = fed
    missing = np.isnan(keypoints[:32])
    assert no_weights is None and np.isnan(first).sum() == missing.sum()  # cycle 1: labels only
    assert not np.isnan(second).any() and (weights[missing] == 0.5).all() and (weights[~missing] == 1).all()
    np.testing.assert_array_equal(second[~missing], normalise(keypoints[:32])[~missing])
    assert isinstance(result.model.loss, MaskedKeypointLoss)  # the loss that reads the weights


def test_run_experiment_trains_caches_and_reloads_a_config_with_every_lever(tmp_path):
    images, keypoints = symmetric_faces(60, 0.6)
    dataset = Dataset(images, keypoints, "drawn faces", "levers")
    config = TINY.replace(name="levers", loss="wing", stem="space_to_depth", input_norm="per_image", ema=0.9,
                          cycles=2, snapshot_ensemble=True, pseudo_label_weight=0.5, mirror_axis="estimated",
                          epochs=2, missing="masked")
    first = run_experiment(config, dataset, split="random", seed=0, runs_dir=tmp_path, progress=False)
    again = run_experiment(config, dataset, split="random", seed=0, runs_dir=tmp_path, progress=False)
    assert again.cached and again.val_rmse == pytest.approx(first.val_rmse)
    assert again.record["history"]["mirror_axis"] == [pytest.approx(48.6, abs=0.03)]


# --- the trials runner (benchmarks/best_trials.py) -----------------------------------------------

RUNNER = Path(__file__).resolve().parents[1] / "benchmarks" / "best_trials.py"


def runner():
    spec = importlib.util.spec_from_file_location("best_trials", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_trial_is_one_change_from_a_parent_that_exists():
    trials = runner()
    for name, (parent, change, changes) in trials.TRIALS.items():
        assert parent in trials.TRIALS or parent in REGISTRY, name
        config = trials.trial_config(name)
        assert set(config.differences(trials.trial_config(parent))) - {"name"} == set(changes), name
        assert change and "\n" not in change
    assert trials.trial_config("v2a").stem == "space_to_depth" and trials.trial_config("ref200").epochs == 200


def test_a_row_is_appended_in_the_files_columns_and_every_earlier_byte_kept(tmp_path):
    trials = runner()
    path = tmp_path / "trials.csv"
    earlier = 'trial,change,status\nhalf,"half the filters, 16-256",complete'  # no final newline
    path.write_text(earlier)
    trials.append_row(path, {"status": "stopped: SIGTERM", "trial": "v2a", "change": 'a "quoted", change'})
    assert path.read_text() == earlier + '\nv2a,"a ""quoted"", change",stopped: SIGTERM\n'
    with pytest.raises(ValueError, match="columns"):
        trials.append_row(path, {"trial": "x"})


def run_runner(kaggle_dir: Path, tmp_path: Path, trial: str, stop: bool) -> tuple[int, str]:
    """The runner on the tiny Kaggle files in a fresh process; with ``stop``, SIGTERM after its first epoch."""
    (tmp_path / "trials.csv").write_text(TRIALS_HEADER)
    command = [sys.executable, str(RUNNER), "--data", str(kaggle_dir), "--trial", trial,
               "--csv", str(tmp_path / "trials.csv"), "--out", str(tmp_path / "out")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if stop and " epoch 1/" in line:
            process.send_signal(signal.SIGTERM)
    return process.wait(timeout=300), "".join(lines)


TRIALS_HEADER = ("trial,parent,change,config_json,epochs,seed,cpu_model,train_seconds,train_cpu_seconds,val_rmse,"
                 "val_rmse_tta,status,date\n")


def test_a_finished_trial_appends_its_scores_and_the_axis_it_estimated(kaggle_dir, tmp_path):
    code, output = run_runner(kaggle_dir, tmp_path, "s2dflip_mse20", stop=False)
    assert code == 0, output
    row = pd.read_csv(tmp_path / "trials.csv").iloc[0]
    assert (row.trial, row.parent, row.epochs, row.seed) == ("s2dflip_mse20", "ref20", 20, 42)
    assert row.val_rmse > 0 and row.val_rmse_tta > 0 and row.train_cpu_seconds >= 0
    assert row.status.startswith("complete (mirror axis ")
    assert ModelConfig.from_json(row.config_json) == runner().trial_config("s2dflip_mse20")
    record = json.loads((tmp_path / "out" / "s2dflip_mse20.json").read_text())
    assert len(record["history"]["val_rmse"]) == 20 and len(record["history"]["mirror_axis"]) == 1


def test_a_stopped_trial_appends_a_stopped_row_with_its_rmse_so_far(kaggle_dir, tmp_path):
    code, output = run_runner(kaggle_dir, tmp_path, "ref200", stop=True)
    assert code == 1, output
    row = pd.read_csv(tmp_path / "trials.csv").iloc[0]
    assert row.trial == "ref200" and row.status.startswith("stopped: SIGTERM after ")
    assert row.val_rmse > 0 and pd.isna(row.val_rmse_tta)
