"""Regenerate the README's figure from fkd's synthetic demo faces (never from real data).

Usage: python docs/make_figures.py
"""

from __future__ import annotations

from pathlib import Path

from fkd.demo import make_faces
from fkd.plots import flip_demo, mirror_faces

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    images, keypoints, _ = make_faces(4, seed=3)
    flipped_images, flipped_keypoints = mirror_faces(images[:1], keypoints[:1])
    figure = flip_demo(images[0], keypoints[0], flipped_images[0], flipped_keypoints[0])
    figure.savefig(HERE / "flip-demo.png", dpi=90)
    print(f"wrote {HERE / 'flip-demo.png'}")
