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


def gradient(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB gradient with a little grain: a plain, face-free background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 60 + 120 * (xx / width) + 40 * (yy / height)
    values = np.clip(base + rng.normal(0, 4, size=base.shape), 0, 255).astype(np.uint8)
    return np.stack([values, (values * 0.9).astype(np.uint8), (values * 0.8).astype(np.uint8)], axis=2)


def place_faces(faces: np.ndarray, placements: list[tuple[int, int, int]], width: int, height: int) -> np.ndarray:
    """An RGB photo with each gray 96 x 96 face enlarged to ``size`` at ``(x, y)``."""
    canvas = gradient(width, height)
    for face, (x, y, size) in zip(faces, placements):
        enlarged = np.asarray(Image.fromarray(face).resize((size, size), Image.Resampling.BICUBIC))
        canvas[y:y + size, x:x + size] = enlarged[:, :, None]
    return canvas


def save_photo(rgb: np.ndarray, path: Path, orientation: int | None = None, **options) -> Path:
    image = Image.fromarray(rgb)
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        image = image.transpose(STORED_FOR[orientation])
        options["exif"] = exif
    image.save(path, **options)
    return path
