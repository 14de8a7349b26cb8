"""Kaggle submission files: predictions routed through ``IdLookupTable.csv``.

Kaggle does not score all 30 coordinates of every test face: the lookup table
lists, row by row, which coordinate of which image it wants. The submission must
answer every row, in order, as ``RowId,Location``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fkd.atomic import check_destination, write_text
from fkd.data import DataError, load_lookup
from fkd.keypoints import COORDINATE_COLUMNS, IMAGE_SIZE


def submission_frame(image_ids: np.ndarray, predictions_px: np.ndarray, lookup: pd.DataFrame,
                     lookup_name: str = "IdLookupTable.csv") -> pd.DataFrame:
    """``RowId, Location`` for every lookup row; locations clipped to the image (0-96 px)."""
    predictions_px = np.asarray(predictions_px, dtype=np.float64)
    if predictions_px.shape != (len(image_ids), len(COORDINATE_COLUMNS)):
        raise ValueError(
            f"expected predictions of shape ({len(image_ids)}, 30), got {predictions_px.shape}"
        )
    row_of_image = pd.Series(np.arange(len(image_ids)), index=np.asarray(image_ids))
    rows = lookup["ImageId"].map(row_of_image)
    if rows.isna().any():
        i = int(np.argmax(rows.isna().to_numpy()))
        raise DataError(
            f"ImageId {lookup['ImageId'].iloc[i]} is not among the test images",
            file=lookup_name, row=i + 2, column="ImageId",
        )
    columns = lookup["FeatureName"].map({name: j for j, name in enumerate(COORDINATE_COLUMNS)})
    locations = predictions_px[rows.to_numpy(dtype=np.int64), columns.to_numpy(dtype=np.int64)]
    return pd.DataFrame({"RowId": lookup["RowId"], "Location": np.clip(locations, 0.0, IMAGE_SIZE)})


def write_submission(image_ids: np.ndarray, predictions_px: np.ndarray, lookup_path: str | Path,
                     out_path: str | Path) -> Path:
    """Write the submission CSV atomically; returns its path."""
    out = check_destination(out_path, "submission")
    frame = submission_frame(image_ids, predictions_px, load_lookup(lookup_path), str(lookup_path))
    write_text(out, frame.to_csv(index=False, float_format="%.4f", lineterminator="\n"))
    return out
