"""Scoring predictions the way Kaggle does: root-mean-square error in pixels.

Only coordinates that are labelled count, so a face with four keypoints is scored
on those four -- the same rule Kaggle's lookup table applies to the test faces.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class SelectionBias:
    """What choosing the best model on some faces, then reporting its score on them, is worth.

    Every figure is a mean over ``halvings`` random halvings of the validation faces (RMSE in
    pixels), so no figure hangs on one coin flip; each ``*_range`` is the middle 90% of one
    halving's value, which is what a single coin flip could have said instead.
    """

    halvings: int
    faces: int
    chosen: dict[str, int]
    """How often each model won the choice, most often first."""
    reported: float
    """The winner's RMSE on the half it was chosen on: what a study that chooses and reports on the same faces
    publishes."""
    held_out: float
    """The winner's RMSE on the other half, which played no part in the choice."""
    optimism: float
    """held_out - reported: how much the reported score flatters the winner."""
    optimism_range: tuple[float, float]
    null_model: str
    """The fixed model of the null: the one with the lowest RMSE on all the validation faces."""
    null_reported: float
    null_held_out: float
    null_optimism: float
    """The same procedure with no choice made (always ``null_model``): what halving the faces alone gives."""
    null_range: tuple[float, float]
    excess_range: tuple[float, float]
    """The middle 90% of one halving's optimism minus the null's optimism on the same halving."""

    @property
    def excess(self) -> float:
        """The optimism the choice itself adds: ``optimism - null_optimism``."""
        return self.optimism - self.null_optimism


def selection_bias(truth: np.ndarray, predictions: dict[str, np.ndarray], seed: int = 0,
                   halvings: int = 1000) -> SelectionBias:
    """Choose on half the faces, report on that half, and compare with the other half -- ``halvings`` times.

    ``truth`` (faces, 30) in pixels, NaN where unlabelled; ``predictions`` maps each candidate
    model to its (faces, 30) predictions on those faces. Each halving cuts the faces at random
    into two halves; the model with the lowest RMSE on the first is chosen, and its RMSE there
    ("reported") and on the second ("held out") are kept. The null applies the same halvings to
    one fixed model that nothing was chosen for (the best on all the faces): its optimism is what
    halving alone gives (about 0, plus the small bias of a root over fewer faces), so the choice's
    own optimism is the difference, :attr:`SelectionBias.excess`.
    """
    truth = np.asarray(truth, dtype=np.float64)
    names = list(predictions)
    if not names:
        raise ValueError("selection bias needs at least one model's predictions")
    if len(truth) < 2:
        raise ValueError("selection bias needs at least two validation faces to halve")
    squared = np.stack([_squared_errors(truth, predictions[name]) for name in names])  # (models, faces, 30)
    labelled = ~np.isnan(squared[0])
    sums = np.where(labelled, squared, 0.0).sum(axis=2)  # (models, faces)
    counts = labelled.sum(axis=1).astype(np.float64)  # (faces,)
    rng = np.random.default_rng(seed)
    half = len(truth) // 2
    first = np.zeros((halvings, len(truth)))
    for row in range(halvings):
        first[row, rng.permutation(len(truth))[:half]] = 1.0
    second = 1.0 - first
    with np.errstate(invalid="ignore", divide="ignore"):
        on_first = np.sqrt((first @ sums.T) / (first @ counts)[:, None])  # (halvings, models)
        on_second = np.sqrt((second @ sums.T) / (second @ counts)[:, None])
    if np.isnan(on_first).any() or np.isnan(on_second).any():
        raise ValueError("a half of the validation faces had no labelled coordinate; use more faces")
    winner = on_first.argmin(axis=1)
    rows = np.arange(halvings)
    reported, held_out = on_first[rows, winner], on_second[rows, winner]
    overall = np.sqrt(sums.sum(axis=1) / counts.sum())
    fixed = int(overall.argmin())
    null_reported, null_held_out = on_first[:, fixed], on_second[:, fixed]
    optimism, null = held_out - reported, null_held_out - null_reported
    wins = np.bincount(winner, minlength=len(names))
    return SelectionBias(
        halvings=halvings, faces=len(truth),
        chosen={names[i]: int(wins[i]) for i in np.argsort(-wins, kind="stable") if wins[i]},
        reported=float(reported.mean()), held_out=float(held_out.mean()), optimism=float(optimism.mean()),
        optimism_range=_middle(optimism), null_model=names[fixed], null_reported=float(null_reported.mean()),
        null_held_out=float(null_held_out.mean()), null_optimism=float(null.mean()), null_range=_middle(null),
        excess_range=_middle(optimism - null))


def _middle(values: np.ndarray, share: float = 0.9) -> tuple[float, float]:
    """The range holding the middle ``share`` of ``values``."""
    low, high = np.quantile(values, [(1 - share) / 2, (1 + share) / 2])
    return float(low), float(high)
