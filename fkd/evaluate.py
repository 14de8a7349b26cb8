"""Scoring predictions the way Kaggle does: root-mean-square error in pixels.

Only coordinates that are labelled count, so a face with four keypoints is scored
on those four -- the same rule Kaggle's lookup table applies to the test faces.
"""

from __future__ import annotations

import numpy as np

from fkd.keypoints import KEYPOINT_NAMES


def _squared_errors(true_px: np.ndarray, pred_px: np.ndarray) -> np.ndarray:
    true_px = np.asarray(true_px, dtype=np.float64)
    pred_px = np.asarray(pred_px, dtype=np.float64)
    if true_px.shape != pred_px.shape:
        raise ValueError(f"shapes differ: true {true_px.shape}, predicted {pred_px.shape}")
    return (pred_px - true_px) ** 2


def rmse(true_px: np.ndarray, pred_px: np.ndarray) -> float:
    """RMSE in pixels over every labelled (non-NaN) coordinate."""
    errors = _squared_errors(true_px, pred_px)
    present = ~np.isnan(errors)
    if not present.any():
        raise ValueError("no labelled coordinates to score")
    return float(np.sqrt(errors[present].mean()))


def per_keypoint_rmse(true_px: np.ndarray, pred_px: np.ndarray) -> dict[str, float]:
    """RMSE in pixels of each keypoint (x and y together), NaN for a keypoint never labelled."""
    errors = _squared_errors(true_px, pred_px).reshape(len(true_px), len(KEYPOINT_NAMES), 2)
    result = {}
    for k, name in enumerate(KEYPOINT_NAMES):
        values = errors[:, k][~np.isnan(errors[:, k])]
        result[name] = float(np.sqrt(values.mean())) if values.size else float("nan")
    return result


def per_face_rmse(true_px: np.ndarray, pred_px: np.ndarray) -> np.ndarray:
    """RMSE in pixels of each face over its labelled coordinates."""
    errors = _squared_errors(true_px, pred_px)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.nanmean(errors, axis=1))


def worst_faces(true_px: np.ndarray, pred_px: np.ndarray, n: int = 8) -> np.ndarray:
    """Indices of the ``n`` faces with the largest per-face RMSE, worst first."""
    scores = np.nan_to_num(per_face_rmse(true_px, pred_px), nan=-1.0)
    return np.argsort(-scores, kind="stable")[:n]


def selection_bias(
    truth: np.ndarray, predictions: dict[str, np.ndarray], seed: int = 0
) -> dict[str, float | str]:
    """What choosing the best model on the faces it is reported on does to the reported score.

    The validation faces are cut at random into two halves. The model with the lowest
    RMSE on the first half is "chosen"; its RMSE there is what a study that tunes and
    reports on the same faces would publish, its RMSE on the second half what new
    faces would show. ``optimism`` is the difference (usually positive: the winner of
    a contest on noisy scores was partly lucky).
    """
    order = np.random.default_rng(seed).permutation(len(truth))
    choose, report = order[: len(order) // 2], order[len(order) // 2:]
    scores = {name: rmse(truth[choose], predicted[choose]) for name, predicted in predictions.items()}
    chosen = min(scores, key=scores.get)
    held_out = rmse(truth[report], predictions[chosen][report])
    return {"chosen": chosen, "on_the_faces_it_was_chosen_on": scores[chosen],
            "on_held_out_faces": held_out, "optimism": held_out - scores[chosen]}
