"""Submissions follow IdLookupTable.csv: every row, in order, clipped to the image."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fkd.atomic import DestinationError
from fkd.data import DataError, load_lookup
from fkd.keypoints import COORDINATE_COLUMNS
from fkd.submission import write_submission
from tests.helpers import SHARED_DATA


def test_submission_answers_every_lookup_row_in_order(kaggle_dir, tmp_path):
    predictions = np.tile(np.arange(30, dtype=np.float32), (3, 1)) + np.array([[0], [100], [200]])
    out = write_submission(np.array([1, 2, 3]), predictions, kaggle_dir / "IdLookupTable.csv", tmp_path / "s.csv")
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["RowId", "Location"] and len(frame) == 32
    assert frame["RowId"].tolist() == list(range(1, 33))
    assert frame["Location"].iloc[:30].tolist() == list(range(30))
    assert frame["Location"].iloc[30] == 96.0  # image 2's nose_tip_x (120) clipped to the image
    assert frame["Location"].iloc[31] == 96.0


def test_unknown_image_id_names_the_lookup_line(kaggle_dir, tmp_path):
    with pytest.raises(DataError) as caught:
        write_submission(np.array([1, 2]), np.zeros((2, 30)), kaggle_dir / "IdLookupTable.csv", tmp_path / "s.csv")
    assert caught.value.row == 33 and caught.value.column == "ImageId"


def test_missing_output_folder_is_a_clear_error(kaggle_dir, tmp_path):
    with pytest.raises(DestinationError, match="does not exist"):
        write_submission(np.array([1, 2, 3]), np.zeros((3, 30)), kaggle_dir / "IdLookupTable.csv",
                         tmp_path / "nope" / "s.csv")


@pytest.mark.parametrize(("folder", "rows", "images"), [("kaggle-format", 27124, 1783), ("faces15", 24746, 1039)])
def test_submission_covers_the_real_lookup_tables(tmp_path, folder, rows, images):
    lookup_path = SHARED_DATA / folder / "IdLookupTable.csv"
    if not lookup_path.is_file():
        pytest.skip(f"{lookup_path} not found: the shared data sits beside the repository in CI")
    ids = np.arange(1, images + 1)
    out = write_submission(ids, np.full((images, 30), 48.0), lookup_path, tmp_path / "s.csv")
    frame = pd.read_csv(out)
    sample = pd.read_csv(SHARED_DATA / folder / "SampleSubmission.csv")
    assert len(frame) == rows and frame["RowId"].tolist() == sample["RowId"].tolist()
    assert set(load_lookup(lookup_path)["FeatureName"]) <= set(COORDINATE_COLUMNS)
