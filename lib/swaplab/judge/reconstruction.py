"""Reconstruction scores of the 05 stage: how well each decoder rebuilds its own person on faces it never trained on.

``reconstruction_metrics(model, faces, side, masks)`` scores A->A or B->B (SSIM, PSNR) at the crops' own
scale: uint8 crops go to ``SwapModel.reconstruct`` as they are (it converts them) and its output is scaled
to 0..255. ``held_back_faces`` gives a clip's aligned faces only when the person's face set was not made
from it; ``held_back_reconstruction`` is 05_evaluate's call.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from swaplab.core import files, video
from swaplab.face import align

if TYPE_CHECKING:
    from swaplab.judge.config import EvalConfig

def reconstruction_metrics(model, faces: np.ndarray, side: str, masks: np.ndarray | None = None, batch_size: int = 64,
                           reason: str | None = None, landmarks: np.ndarray | None = None) -> dict:
    """SSIM and PSNR of ``model.reconstruct(faces, side)`` against ``faces`` (A->A or B->B).

    ``faces``: (N, S, S, 3) aligned crops, uint8 or float in [0, 1], of faces
    the model did NOT train on (else it measures memory, not generalisation);
    resized to ``model.image_size`` if needed and passed on as they are
    (``reconstruct`` converts uint8 itself). The scores compare at the crops' own
    scale (0..255 for uint8): the model's [0, 1] output is scaled to it. ``masks``:
    optional (N, S, S) face masks (as ``aligned_video_faces`` returns): the scores
    then cover the face only, which is all the model is trained to draw (the loss
    is masked; the background of a crop is never learned and never pasted).
    Returns means and per-face lists; with no faces, None scores and ``reason``
    (why there are none) instead. ``landmarks``: (N, 478, 2) of the faces in the crops, which a sketched model
    draws along (``SwapModel.reconstruct``).
    """
    from skimage.metrics import structural_similarity

    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[-1] != 3 or faces.shape[1] != faces.shape[2]:
        raise ValueError(f"faces have shape {faces.shape}: expected (N, S, S, 3) aligned RGB crops")
    size, faces = faces.shape[1], _at_size(faces, model.image_size)
    if len(faces) == 0:
        return {"side": side, "faces": 0, "ssim": None, "psnr": None, "region": None, "per_face": {"ssim": [], "psnr": []},
                "reason": reason or f"no held-back faces of person {side} to score"}
    region = np.ones(faces.shape[:3], bool) if masks is None else _mask_region(masks, model.image_size)  # (N, S, S)
    scale = 255.0 if faces.dtype == np.uint8 else 1.0  # the crops' range
    if landmarks is not None:
        landmarks = align.rescale_points(np.asarray(landmarks, np.float32), size, model.image_size)
    recon = np.clip(model.reconstruct(faces, side, batch_size=batch_size, landmarks=landmarks), 0.0, 1.0) * scale  # (N, S, S, 3)
    ssim, psnr = [], []
    for a, b, m in zip(faces, recon, region):
        _, ssim_map = structural_similarity(a, b, channel_axis=-1, data_range=scale, full=True)
        ssim.append(float(ssim_map[m].mean()))
        mse = float(((a - b)[m] ** 2).mean())
        psnr.append(100.0 if mse == 0 else min(100.0, 10 * np.log10(scale ** 2 / mse)))  # capped: the JSON stays finite
    return {"side": side, "faces": len(faces), "ssim": float(np.mean(ssim)), "psnr": float(np.mean(psnr)),
            "region": "face mask" if masks is not None else "whole crop", "per_face": {"ssim": ssim, "psnr": psnr}}


def _at_size(images: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, ...) from square (N, S, S, ...) crops or masks, their dtype kept."""
    import cv2

    if images.shape[1] == size:
        return images
    if len(images) == 0:
        return images.reshape(0, size, size, *images.shape[3:])
    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])


def _mask_region(masks: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) bool: where (N, S, S) face masks (uint8 0..255, or 0..1) are more than half on."""
    masks = np.asarray(masks)
    half = 127.5 if masks.dtype == np.uint8 else 0.5
    return _at_size(masks.astype(np.float32), size) > half


def aligned_video_faces(path: str | Path, size: int, max_faces: int = 64, start: float = 0.0,
                duration: float | None = None, landmarks: bool = False) -> tuple[np.ndarray, ...]:
    """Aligned crops of the main face in up to ``max_faces`` frames spread over a video range, and their masks.

    Returns crops (N, size, size, 3) uint8 and face masks (N, size, size) uint8 in
    {0, 255}: the same alignment and hull as the face sets, at the model's size,
    for reconstruction scores on a clip held back from training (the demo's input clip);
    with ``landmarks`` also their (N, 478, 2) landmarks in the crops.
    """
    from swaplab.face.landmarks import Landmarker

    info = video.probe(path)
    frames = max(1, int((duration or info.duration - start) * info.fps))
    crops, masks, points = [], [], []
    with Landmarker("image", num_faces=1) as lm:
        for f in video.FrameReader(path, start=start, duration=duration, every=max(1, frames // max(max_faces, 1))):
            faces = lm.detect(f.image)
            if faces:
                crop, matrix = align.crop_face(f.image, faces[0].landmarks, size)
                crops.append(crop)
                points.append(align.transform_points(faces[0].landmarks, matrix))
                masks.append(align.landmark_masks(points[-1], size)[..., 0])
            if len(crops) >= max_faces:
                break
    out = ((np.stack(crops), np.stack(masks), np.stack(points).astype(np.float32)) if crops else
           (np.zeros((0, size, size, 3), np.uint8), np.zeros((0, size, size), np.uint8), np.zeros((0, 478, 2), np.float32)))
    return out if landmarks else out[:2]


def held_back_faces(video_path: str | Path, faces_dir: str | Path, size: int, max_faces: int = 64,
                    start: float = 0.0, duration: float | None = None) -> tuple:
    """(crops, masks, landmarks, None) of a video's faces if the person's face set was NOT made from it (as
    ``aligned_video_faces(landmarks=True)``), else (empty, empty, empty, why).

    Training sees exactly the face set, so a clip that is not among its sources
    (by name, or by SHA-256 in 01_collect's manifest) is held back: the demo's
    swapped s1 clip is. Crops as in ``aligned_video_faces``.
    """
    from swaplab.core import assets
    from swaplab.face import faceset

    fs = faceset.FaceSet(faces_dir)
    manifest = files.read_json(Path(faces_dir).parent / "sources" / "manifest.json", default={"sources": []})
    digests = {e.get("sha256") for e in manifest["sources"]}
    video_path = Path(video_path)
    if video_path.stem in fs.summary.get("sources", {}) or (video_path.is_file() and assets.sha256_of(video_path) in digests):
        why = f"{video_path.name} is one of {fs.person}'s training sources, so its faces are not held back"
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, size, size), np.uint8), np.zeros((0, 478, 2), np.float32), why
    return (*aligned_video_faces(video_path, size, max_faces, start, duration, landmarks=True), None)


def held_back_reconstruction(config: EvalConfig, model) -> dict[str, dict]:
    """{decoder side: ``reconstruction_metrics``} of 05_evaluate: INPUT is the source person's held-back
    footage (unless their face set was made from it), scored through their own decoder; the target
    person has no held-back video here, so theirs is None with the reason."""
    sides = {config.person_a: "a", config.person_b: "b"}
    source, target = sides[config.source], sides[config.target]
    held, masks, points, why = held_back_faces(config.input_path, config.faces[config.source], model.image_size,
                                               config.holdout_faces, config.swap["start"], config.swap["duration"])
    scores = {source: reconstruction_metrics(model, held, source, masks, reason=why, landmarks=points)}
    if target != source:
        scores[target] = reconstruction_metrics(model, held[:0], target, reason=f"no held-back video of {config.target} "
                                                                                 f"(INPUT shows {config.source})")
    return scores
