"""Shared fixtures: tiny hand-checkable Kaggle-layout files, and the shared faces15 data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fkd.data import write_test_csv, write_training_csv
from fkd.keypoints import COORDINATE_COLUMNS

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FACES15 = SHARED_DATA / "faces15"


@pytest.fixture
def faces15() -> Path:
    if not (FACES15 / "training.zip").is_file():
        pytest.skip(f"{FACES15} not found: the shared faces15 data sits beside the repository in CI")
    return FACES15


def tiny_faces(n: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random images with keypoints inside the image; row 1 misses its eyebrows."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 96, 96), dtype=np.uint8)
    keypoints = rng.uniform(10, 86, size=(n, len(COORDINATE_COLUMNS))).astype(np.float32)
    keypoints[1, 12:20] = np.nan
    return images, keypoints


@pytest.fixture
def kaggle_dir(tmp_path: Path) -> Path:
    """A folder with a tiny training.csv, test.csv and a matching IdLookupTable.csv."""
    images, keypoints = tiny_faces()
    write_training_csv(tmp_path / "training.csv", images, keypoints)
    write_test_csv(tmp_path / "test.csv", np.array([1, 2, 3]), images[:3])
    rows = [(i + 1, image_id, feature) for i, (image_id, feature) in enumerate(
        [(1, c) for c in COORDINATE_COLUMNS] + [(2, "nose_tip_x"), (3, "left_eye_center_y")]
    )]
    (tmp_path / "IdLookupTable.csv").write_text(
        "RowId,ImageId,FeatureName,Location\n" + "".join(f"{r},{i},{f},\n" for r, i, f in rows)
    )
    return tmp_path
