"""RMSE in pixels, checked against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fkd.evaluate import per_keypoint_rmse, rmse, selection_bias, worst_faces


def test_rmse_matches_a_hand_computation():
    true = np.zeros((2, 30))
    pred = np.zeros((2, 30))
    pred[0, 0], pred[1, 1] = 3.0, 4.0  # squared errors 9 and 16 over 60 coordinates
    assert rmse(true, pred) == pytest.approx(np.sqrt(25 / 60))


def test_rmse_ignores_missing_labels():
    true = np.full((1, 30), np.nan)
    true[0, :2] = [10.0, 20.0]
    pred = np.full((1, 30), 99.0)
    pred[0, :2] = [13.0, 24.0]  # errors 3 and 4 on the only two labelled coordinates
    assert rmse(true, pred) == pytest.approx(np.sqrt((9 + 16) / 2))


def test_per_keypoint_rmse_pairs_x_and_y():
    true = np.zeros((1, 30))
    pred = np.zeros((1, 30))
    pred[0, 20:22] = [6.0, 8.0]  # nose_tip x and y
    scores = per_keypoint_rmse(true, pred)
    assert scores["nose_tip"] == pytest.approx(np.sqrt((36 + 64) / 2))
    assert scores["left_eye_center"] == 0.0 and len(scores) == 15


def test_worst_faces_are_ranked_worst_first():
    true = np.zeros((4, 30))
    pred = np.zeros((4, 30))
    pred[2] += 5.0
    pred[0] += 1.0
    assert worst_faces(true, pred, n=2).tolist() == [2, 0]


def test_rmse_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        rmse(np.zeros((2, 30)), np.zeros((3, 30)))


# --- selection bias: many halvings against a fixed-model null -----------------------------------


def _noisy_models(n_models: int, noise: list[float] | float, faces: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(20, 76, (faces, 30))
    truth[rng.random((faces, 30)) < 0.3] = np.nan
    scales = noise if isinstance(noise, list) else [noise] * n_models
    return truth, {f"m{i}": truth + rng.normal(0, s, truth.shape) for i, s in enumerate(scales)}


def test_selection_bias_averages_the_same_choice_as_a_loop_over_halvings_would():
    truth, predictions = _noisy_models(4, 2.0, faces=30)
    found = selection_bias(truth, predictions, seed=5, halvings=7)
    rng, optimism, null = np.random.default_rng(5), [], []
    best_overall = min(predictions, key=lambda name: rmse(truth, predictions[name]))
    for _ in range(7):
        order = rng.permutation(len(truth))
        first, second = order[:15], order[15:]
        scores = {name: rmse(truth[first], p[first]) for name, p in predictions.items()}
        chosen = min(scores, key=scores.get)
        optimism.append(rmse(truth[second], predictions[chosen][second]) - scores[chosen])
        null.append(rmse(truth[second], predictions[best_overall][second]) - scores[best_overall])
    assert found.halvings == 7 and sum(found.chosen.values()) == 7 and found.null_model == best_overall
    assert found.optimism == pytest.approx(np.mean(optimism)) and found.null_optimism == pytest.approx(np.mean(null))
    assert found.excess == pytest.approx(np.mean(optimism) - np.mean(null))


def test_choosing_among_equally_good_models_is_optimistic_and_the_fixed_model_null_is_not():
    truth, predictions = _noisy_models(10, 2.0)
    found = selection_bias(truth, predictions, seed=1, halvings=2000)
    assert found.optimism > 0.05 and found.excess > 0.05
    assert abs(found.null_optimism) < found.excess / 4
    assert len(found.chosen) > 5  # luck, not quality, picks the winner
    low, high = found.optimism_range
    assert low < found.optimism < high and found.null_range[0] < 0 < found.null_range[1]


def test_a_clear_winner_or_a_single_model_adds_nothing_to_the_null():
    truth, predictions = _noisy_models(2, [1.0, 4.0])
    clear = selection_bias(truth, predictions, halvings=300)
    assert clear.chosen == {"m0": 300} and clear.null_model == "m0" and clear.excess == 0
    alone = selection_bias(truth, {"only": predictions["m1"]}, halvings=50)
    assert alone.optimism == alone.null_optimism and alone.excess == 0


def test_selection_bias_is_repeatable_from_its_seed_and_not_one_coin_flip():
    truth, predictions = _noisy_models(5, 2.0)
    assert selection_bias(truth, predictions, seed=3) == selection_bias(truth, predictions, seed=3)
    many = [selection_bias(truth, predictions, seed=s, halvings=1000).excess for s in (1, 2)]
    single = [selection_bias(truth, predictions, seed=s, halvings=1).excess for s in range(20)]
    assert abs(many[0] - many[1]) < np.std(single) / 5


def test_selection_bias_refuses_what_it_cannot_halve():
    with pytest.raises(ValueError, match="at least one model"):
        selection_bias(np.zeros((4, 30)), {})
    with pytest.raises(ValueError, match="two validation faces"):
        selection_bias(np.zeros((1, 30)), {"m": np.zeros((1, 30))})
