"""Helpers tests import by name (fixtures live in conftest.py, which tests never import)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fkd.keypoints import COORDINATE_COLUMNS

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
"""The shared data beside the repository (CI has it; tests that need it skip without it)."""
FACES15 = SHARED_DATA / "faces15"


def tiny_faces(n: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random images with keypoints inside the image; row 1 misses its eyebrows."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 96, 96), dtype=np.uint8)
    keypoints = rng.uniform(10, 86, size=(n, len(COORDINATE_COLUMNS))).astype(np.float32)
    keypoints[1, 12:20] = np.nan
    return images, keypoints
