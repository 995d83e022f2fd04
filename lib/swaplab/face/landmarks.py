"""MediaPipe Face Landmarker (Tasks API) behind one small class.

``Landmarker(mode="video")`` tracks faces across the frames of one clip (faster
and steadier than detecting every frame); ``mode="image"`` treats each image on
its own. Each detected face becomes a ``Face``: 478 landmarks in frame pixels,
head pose in degrees from the facial transformation matrix, and the 52
blendshape scores (jaw open, smile, blinks, ...).

Pose convention (camera space of MediaPipe's metric face geometry: x to the
image's right, y up, z towards the camera):
  yaw   > 0: the face turns towards the image's right (the subject's left),
  pitch > 0: the face tilts up,
  roll  > 0: the face rotates counter-clockwise as seen in the image.
"""

from __future__ import annotations

import atexit
import math
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Blendshapes the data report and the expression metric look at most.
EXPRESSION_KEYS = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight", "browInnerUp")

# Points of the 478-point model that mouth and gaze are read from ("left"/"right": the image's sides, as in align).
INNER_LIP_MID = (13, 14)  # the inner lips' upper and lower midpoints: their gap is how far the mouth is open
EYE_CORNERS = (33, 263)  # the outer eye corners: their span is the face's size for the mouth gap and the bank distance
EYES = {"left": (33, 133, 468), "right": (362, 263, 473)}  # eye -> (its image-left corner, image-right corner, iris centre)
IRIS_RINGS = {"left": (469, 470, 471, 472), "right": (474, 475, 476, 477)}  # the four points on each iris' edge


@dataclass
class Face:
    landmarks: np.ndarray  # (478, 2) float32, frame pixels (x, y)
    depth: np.ndarray  # (478,) float32, MediaPipe's relative z (smaller = closer to the camera)
    yaw: float  # degrees, see module docstring for signs
    pitch: float
    roll: float
    blendshapes: np.ndarray  # (52,) float32 in [0, 1], order of BLENDSHAPE_NAMES
    matrix: np.ndarray  # (4, 4) float32 facial transformation matrix

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the landmarks, in frame pixels."""
        x0, y0 = self.landmarks.min(0)
        x1, y1 = self.landmarks.max(0)
        return int(x0), int(y0), int(math.ceil(x1)), int(math.ceil(y1))

    @property
    def size(self) -> float:
        """Face size in pixels: the larger side of the landmark box."""
        x0, y0, x1, y1 = self.bbox
        return float(max(x1 - x0, y1 - y0))

    def blendshape(self, name: str) -> float:
        return float(self.blendshapes[BLENDSHAPE_NAMES.index(name)])


BLENDSHAPE_NAMES: list[str] = []  # filled from the model's output on first use


def pose_from_matrix(matrix: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from a 4x4 facial transformation matrix."""
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    fwd = r[:, 2]  # where the face's nose points, in camera space
    side = r[:, 0]  # the face's left-to-right axis
    yaw = math.degrees(math.atan2(fwd[0], fwd[2]))
    pitch = math.degrees(math.atan2(fwd[1], math.hypot(fwd[0], fwd[2])))
    roll = math.degrees(math.atan2(side[1], side[0]))
    return yaw, pitch, roll


_OPEN: "weakref.WeakSet[Landmarker]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Close landmarkers still open at exit, while MediaPipe's own teardown can still run
    (closed later, from ``__del__`` during interpreter shutdown, it prints a TypeError)."""
    for lm in list(_OPEN):
        lm.close()


class Landmarker:
    """Detect faces and their 478 landmarks in RGB frames.

    ``mode``: "video" (tracking; frames of ONE clip in order, timestamps
    increasing) or "image" (independent stills). ``num_faces``: the most faces
    per frame to return. Use as a context manager, or call ``close()``.
    """

    def __init__(
        self,
        mode: str = "video",
        num_faces: int = 1,
        model_path: str | Path | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        blendshapes: bool = True,
    ):
        from mediapipe.tasks.python import BaseOptions, vision

        from swaplab.core import assets

        if mode not in {"video", "image"}:
            raise ValueError(f"mode={mode!r}: use 'video' (frames of one clip, tracked) or 'image' (independent stills)")
        path = Path(model_path) if model_path else assets.fetch(assets.FACE_LANDMARKER)
        running = vision.RunningMode.VIDEO if mode == "video" else vision.RunningMode.IMAGE
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=running,
            num_faces=num_faces,
            min_face_detection_confidence=min_detection_confidence,
            min_face_presence_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
            output_face_blendshapes=blendshapes,
            output_facial_transformation_matrixes=True,
        )
        self._task = vision.FaceLandmarker.create_from_options(options)
        self.mode = mode
        self._last_ts = -1
        _OPEN.add(self)

    def detect(self, image: np.ndarray, timestamp_ms: int | None = None) -> list[Face]:
        """Faces in one ``(H, W, 3)`` uint8 RGB frame, largest first.

        In video mode ``timestamp_ms`` must increase from call to call; when it
        is omitted, one more millisecond than last time is used.
        """
        import mediapipe as mp

        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {image.shape} {image.dtype}")
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        if self.mode == "video":
            ts = self._last_ts + 1 if timestamp_ms is None else max(int(timestamp_ms), self._last_ts + 1)
            self._last_ts = ts
            result = self._task.detect_for_video(mp_image, ts)
        else:
            result = self._task.detect(mp_image)
        return _faces(result, image.shape[1], image.shape[0])

    def close(self) -> None:
        if self._task is not None:
            self._task.close()
            self._task = None

    def __enter__(self) -> "Landmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: MediaPipe's own teardown may already be gone
            pass


def _faces(result, width: int, height: int) -> list[Face]:
    faces = []
    for i, lms in enumerate(result.face_landmarks):
        pts = np.array([(p.x * width, p.y * height, p.z * width) for p in lms], dtype=np.float32)
        if result.face_blendshapes:
            cats = result.face_blendshapes[i]
            if not BLENDSHAPE_NAMES:
                BLENDSHAPE_NAMES.extend(c.category_name for c in cats)
            bs = np.array([c.score for c in cats], dtype=np.float32)
        else:
            bs = np.zeros(52, np.float32)
        m = np.asarray(result.facial_transformation_matrixes[i], dtype=np.float32)
        yaw, pitch, roll = pose_from_matrix(m)
        faces.append(Face(pts[:, :2].copy(), pts[:, 2].copy(), yaw, pitch, roll, bs, m))
    faces.sort(key=lambda f: -f.size)
    return faces
