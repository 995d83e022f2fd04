"""Test data for tests, benchmarks and the multi-worker launcher: cartoon faces, and a tiny trained run.

Nothing here is used by the pipeline on real footage. ``synthetic_faces`` draws faces
in the face-set format, so training can run with no video and no face set;
``tiny_run`` trains a run for a couple of steps on them, enough to load and swap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def synthetic_faces(n: int, size: int = 64, person: int = 0, seed: int = 0):
    """Cartoon faces (ellipse head, eyes, mouth) for tests and benchmarks, in the face-set format.

    Returns images (n, size, size, 3) uint8 RGB and masks (n, size, size, 2) uint8 in
    {0, 255} (face hull, eyes + mouth). ``person`` changes skin tone and face shape;
    each face has its own pose offset, eye gaze and mouth opening.
    """
    rng = np.random.default_rng(seed * 1000 + person)
    yy, xx = np.mgrid[0:size, 0:size] / size  # (S, S) in [0, 1)
    skin = np.array([[0.85, 0.65, 0.5], [0.55, 0.4, 0.3]][person % 2])
    width = (0.30, 0.25)[person % 2]
    images = np.empty((n, size, size, 3), np.float32)
    masks = np.zeros((n, size, size, 2), np.uint8)
    for i in range(n):
        cy, cx = 0.5 + rng.normal(0, 0.02, 2)
        bg = rng.random(3) * 0.5 + 0.25 * (yy[..., None] + xx[..., None])  # (S, S, 3) gradient
        face = ((yy - cy) / 0.38) ** 2 + ((xx - cx) / width) ** 2 < 1
        img = np.where(face[..., None], skin * (0.8 + 0.2 * (1 - yy[..., None])), bg)
        gaze = rng.normal(0, 0.01)
        eyes = np.zeros_like(face)
        for ex in (-0.11, 0.11):
            eyes |= ((yy - cy + 0.08) / 0.04) ** 2 + ((xx - cx - ex - gaze) / 0.06) ** 2 < 1
        mouth = ((yy - cy - 0.17) / (0.015 + 0.05 * rng.random())) ** 2 + ((xx - cx) / 0.12) ** 2 < 1
        img[eyes] = (0.1, 0.1, 0.15)
        img[mouth] = (0.6, 0.1, 0.15)
        images[i] = img
        masks[i, ..., 0] = face * 255
        masks[i, ..., 1] = (eyes | mouth) * 255
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), masks


def tiny_run(root: str | Path, project: str, model: str = "tiny", run: str = "tiny", steps: int = 2) -> Path:
    """Train ``weights/<project>/<run>/`` under ``root`` for ``steps`` steps on synthetic faces; returns its folder.

    Enough to load a run and swap with it (04_swap's tests); ``root/data`` is its DATA_DIR and
    ``root/weights`` its WEIGHTS_DIR.
    """
    from swaplab.train.loop import TrainConfig, train

    root = Path(root)
    config = TrainConfig(project=project, run=run, model=model, batch_size=4, steps=steps, log_every=1,
                         preview_every=1000, save_every=1000, data_dir=str(root / "data"),
                         weights_dir=str(root / "weights"))
    train(config, data=tuple(synthetic_faces(8, config.image_size, person=p) for p in (0, 1)))
    return config.run_dir
