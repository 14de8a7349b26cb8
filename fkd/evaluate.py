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
