"""Helpers tests import by name (fixtures live in conftest.py, which tests never import)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

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


# --- photos made of dataset faces (fkd.photo, fkd predict --image) ---------------------------

ORIENTATION = 0x0112
STORED_FOR = {  # EXIF orientation -> how to turn an upright picture into what the camera stored
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def save_photo(rgb: np.ndarray, path: Path, orientation: int | None = None, **options) -> Path:
    image = Image.fromarray(rgb)
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        image = image.transpose(STORED_FOR[orientation])
        options["exif"] = exif
    image.save(path, **options)
    return path


# --- a console a person can read ---------------------------------------------------------------

NOISE = ("absl", "oneDNN", "cuda", "I0000", "W0000", "E0000", "Warning", "WARNING", "warn(", "Traceback",
         "running over TCP", "MissingIDFieldWarning")
"""Fragments of lines that are not fkd's: TensorFlow's start-up, CUDA probes, Python warnings, kernel notices."""


def foreign_lines(output: str) -> list[str]:
    """Lines of a command's output that fkd did not write (progress-bar redraws split on carriage returns)."""
    lines = [part.strip() for line in output.splitlines() for part in line.split("\r")]
    return [line for line in lines if line and any(fragment in line for fragment in NOISE)]
