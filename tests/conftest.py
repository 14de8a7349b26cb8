"""Shared fixtures: tiny hand-checkable Kaggle-layout files, the shared faces15 data, a private cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fkd.data import write_test_csv, write_training_csv
from fkd.keypoints import COORDINATE_COLUMNS
from tests.helpers import FACES15, tiny_faces


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets fkd's cache (demo faces, parsed files) in a folder of the test session, not the user's."""
    folder = tmp_path_factory.getbasetemp() / "fkd-cache"
    monkeypatch.setenv("FKD_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def faces15() -> Path:
    if not (FACES15 / "training.zip").is_file():
        pytest.skip(f"{FACES15} not found: the shared faces15 data sits beside the repository in CI")
    return FACES15


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
