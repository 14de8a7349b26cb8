"""RMSE in pixels, checked against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fkd.evaluate import per_keypoint_rmse, rmse, worst_faces


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
