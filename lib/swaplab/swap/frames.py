"""The per-frame work of a conversion (``FramePipeline``), shared by ``convert`` and ``preview_frame``: locate
(cut check -> landmarks -> tracks and target -> smoothing -> the crops, made as training makes them:
``align.face_crops``), draw (``Cascade.swap``: the one drawing path, autoencoder then detail stage) and compose
(colour, mask, paste, label, side by side)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from swaplab.core.paths import DIRECTIONS
from swaplab.face import align, blend, masks
from swaplab.model import runs
from swaplab.swap import targets
from swaplab.swap.cuts import CutDetector
from swaplab.swap.options import SwapOptions

STAGES = ("decode", "landmarks", "align", "model", "detail", "blend", "encode")


@dataclass
class FaceJob:
    """One face located in one frame, ready for the model."""

    matrix: np.ndarray  # (2, 3) float64 frame px -> crop px
    crop: np.ndarray  # (S, S, 3) uint8 RGB aligned crop at the model's size: what the model reads
    landmarks: np.ndarray  # (478, 2) float64 in px of the drawn size (for the mask)
    track: int = -1  # the face track's id
    raw: np.ndarray | None = None  # (478, 2) float64 frame px as detected, before smoothing
    hair: np.ndarray | None = None  # (O, O) float32 hair probability in the drawn crop (MASK="hull-hair")
    ref: np.ndarray | None = None  # (O, O, 3) uint8: the input's face at the drawn size O (colour reference, seamless)
    out_matrix: np.ndarray | None = None  # (2, 3) frame px -> px of the drawn size (the paste)


def configure_threads(intra_op: int | None = None) -> bool:
    """Cap TensorFlow's thread pools; returns False if TF was already initialised (then nothing changes).

    Default: no inter-op pool (the model is a chain of convs: nothing to run side
    by side) and half the cores for intra-op work (1 on a 2-core CPU). The other
    half is for the locate thread (MediaPipe) and the ffmpeg decoder and encoder,
    which run at the same time: a TF thread per core would only spin-wait against
    them. Measured on 2 cores at 720p: 1 TF thread used 2-5 % less CPU per frame
    than 2 (74-76 vs 77-79 ms). Call this before loading a model; ``convert``
    calls it too (harmless when too late).
    """
    import os

    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(intra_op or max(1, (os.cpu_count() or 2) // 2))
        return True
    except RuntimeError:
        return False


def faces_to_find(o: SwapOptions) -> int:
    """MediaPipe's ``num_faces``: MAX_FACES, or by default 1 for "largest" and 4 for "identity" and "all".

    With one face MediaPipe tracks it from frame to frame and runs its detector only
    when the face is lost; with more it runs the detector on every frame in which
    it tracks fewer (~2 ms of CPU a frame at 720p). So "largest" with one face is
    the face MediaPipe tracks; MAX_FACES >= 2 makes it the largest of those seen.
    """
    if o.max_faces is not None:
        return o.max_faces
    return 1 if o.target == "largest" else 4


class FramePipeline:
    """The per-frame work of a conversion, shared by ``convert`` and ``preview_frame``.

    ``locate`` (cut check -> landmarks -> tracks and target -> smoothing ->
    alignment -> crop), ``swap_faces`` (one batched model call) and ``compose``
    (colour, mask, paste, label, side by side). ``timings`` accumulates seconds
    per stage; ``tracker`` counts faces by kind and ``cuts`` lists the scene cuts.
    ``reference``: the source person's (128,) identity (``targets.source_identity``),
    needed when ``options.target`` is "identity".
    """

    def __init__(self, model, options: SwapOptions, mode: str = "video", reference: np.ndarray | None = None):
        self.model, self.options, self.mode = runs.load_cascade(model), options.validate(), mode
        self.size = int(self.model.image_size)
        self.detail = self.model.detail if options.detail else None  # the target person's detail net draws the face again
        self.out_size = self.detail.size if self.detail is not None else self.size  # px of the faces pasted
        self.stretch: list[float] = []  # frame px per drawn px, per located face
        self.model.blender.reset()  # track ids start again: no exemplar weights carried over from another video
        on = options.smoothing > 0 and mode == "video"
        smoothing = (options.smoothing, options.smoothing_beta) if on else None
        self.tracker = targets.Tracker(options.target, reference, smoothing)
        self.cut = CutDetector(options.cut_threshold if mode == "video" else 0.0)
        self.cuts: list[dict] = []
        self.hair = masks.HairSegmenter() if options.mask == "hull-hair" else None
        self.landmarker = self._landmarker()
        self.timings = dict.fromkeys(STAGES, 0.0)
        self.pasted = 0  # faces the last ``compose`` pasted into its frame

    def _landmarker(self):
        from swaplab.face.landmarks import Landmarker

        return Landmarker(self.mode, num_faces=faces_to_find(self.options), blendshapes=False)

    def close(self) -> None:
        self.landmarker.close()

    def _new_shot(self, index: int, t: float) -> None:
        """A scene cut: nothing carries over (tracks, smoothing, identity, hair, MediaPipe's own tracking)."""
        self.cuts.append({"frame": int(index), "time": round(float(t), 3)})
        self.tracker.reset()
        self.model.blender.reset()
        if self.hair is not None:
            self.hair.reset()
        self.landmarker.close()
        self.landmarker = self._landmarker()

    def locate(self, image: np.ndarray, t: float, index: int = 0) -> list[FaceJob]:
        """The faces to swap in an (H, W, 3) uint8 frame at ``t`` seconds (frame ``index``), aligned; [] if none."""
        t0 = time.perf_counter()
        if self.cut(image):
            self._new_shot(index, t)
        elif self.mode == "image":
            self.tracker.reset()  # stills are independent
        h, w = image.shape[:2]
        dw = self.options.detect_width
        scale = 1.0
        small = image
        if dw and w > dw:
            # MediaPipe resizes to 192-256 px inside anyway; a smaller copy saves its conversion work
            scale = w / dw
            small = cv2.resize(image, (dw, int(round(h / scale))), interpolation=cv2.INTER_LINEAR)
        faces = self.landmarker.detect(small, int(round(t * 1000)))
        t1 = time.perf_counter()
        self.timings["landmarks"] += t1 - t0
        chosen = self.tracker.update(image, [(f.landmarks * scale, f.size * scale) for f in faces], t)
        jobs = []
        for track, lms, raw in chosen:
            jobs.append(self._job(image, lms, track.id, raw))
        self.timings["align"] += time.perf_counter() - t1
        return jobs

    def _job(self, image: np.ndarray, lms: np.ndarray, track: int, raw: np.ndarray) -> FaceJob:
        """One face of the frame: its crop at the model's size and, at the size it is drawn at, the input's face,
        the landmarks, the paste's matrix and the hair."""
        matrix, crop, out, ref = align.face_crops(image, lms, self.size, self.out_size)
        job = FaceJob(matrix, crop, align.transform_points(lms, out), track, raw, ref=ref, out_matrix=out)
        if self.hair is not None:
            job.hair = self.hair(image, out, self.out_size, key=track if self.mode == "video" else None)
        self.stretch.append(1.0 / float(np.hypot(*out[0, :2])))  # frame px per drawn px
        return job

    def swap_faces(self, jobs: list[FaceJob]) -> np.ndarray:
        """(N, O, O, 3) float32 in [0, 1]: the jobs' crops rendered by the other side's decoder (one call), then
        drawn again at the detail stage's size O by the target's detail net (without one, O is the model's size)."""
        crops = np.stack([j.crop for j in jobs])  # (N, S, S, 3) uint8; the model scales to [0, 1]
        tracks = [j.track for j in jobs] if self.mode == "video" else None  # exemplars steady along each track
        return self.model.swap(crops, DIRECTIONS[self.options.direction], landmarks=[j.landmarks for j in jobs],
                               tracks=tracks, detail=self.detail is not None, timings=self.timings)

    def mask(self, job: FaceJob) -> np.ndarray:
        """(O, O) float32 in [0, 1]: the paste mask of ``job`` at the drawn size, under the options' MASK, erosion and blur."""
        k = self.out_size / 64  # the mask's knobs are in px of a 64 px crop: the same share of the face at any size
        o = self.options
        return masks.face_mask(job.landmarks, self.out_size, round(o.mask_erode * k), round(o.mask_blur * k), job.hair)

    def compose(self, image: np.ndarray, jobs: list[FaceJob], swapped) -> np.ndarray:
        """The output frame: (H, W or 2W, 3) uint8; ``swapped[i]`` is ``jobs[i]``'s face. ``image`` is never modified."""
        t0 = time.perf_counter()
        o = self.options
        h, w = image.shape[:2]
        # one allocation per frame: the output, into which the original is copied once
        out = np.empty((h, 2 * w if o.side_by_side else w, 3), np.uint8)
        if o.side_by_side:
            out[:, :w] = image
        right = out[:, w:] if o.side_by_side else out
        right[:] = image
        self.pasted = 0  # faces of this frame that landed in it (``blend.paste``)
        for job, face in zip(jobs, swapped):
            mask = self.mask(job)  # (O, O) float32
            ref = job.ref.astype(np.float32) * (1.0 / 255.0)
            face = blend.sharpen(np.ascontiguousarray(face, np.float32), o.sharpen, sigma=self.out_size / 128)
            face = blend.color_transfer(face, ref, mask, o.color)
            face8 = np.clip(face * 255.0 + 0.5, 0, 255).astype(np.uint8)
            if o.blend == "seamless":
                face8 = blend.seamless(face8, job.ref, mask)
            self.pasted += blend.paste(right, face8, mask, job.out_matrix)
        blend.put_label(right, o.label)
        self.timings["blend"] += time.perf_counter() - t0
        return out
