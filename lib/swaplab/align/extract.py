"""Step 1 of building a face set, per source in a worker process: decode -> MediaPipe landmarks -> align -> write
the crop -> measure it (``measure``: size, blur, brightness) and embed a sample of faces with dlib; one index row
per face (``_row``)."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np

from swaplab.align.config import AlignConfig
from swaplab.face import align


def measure(crop: np.ndarray) -> tuple[float, float]:
    """(blur, brightness) of an aligned (S, S, 3) uint8 RGB crop.

    blur: variance of the Laplacian of the face's centre, measured at 64 px (the
    smallest model input), so it does not depend on FACE_SIZE and asks "is it
    sharp at the size training sees?"; higher is sharper. Sharp 360p GRID faces
    score ~800, the 78 px faces of the head-pose GIFs ~130, a GRID face blurred
    by a Gaussian of 1 px (at 64 px) ~115, of 2 px ~30.
    brightness: mean L of CIELAB in [0, 255] over the same centre.
    """
    import cv2

    small = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA)[12:56, 10:54]  # brows to chin, cheek to cheek
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    blur = float(cv2.Laplacian(gray, cv2.CV_32F).var())
    brightness = float(cv2.cvtColor(small, cv2.COLOR_RGB2LAB)[..., 0].mean())
    return blur, brightness



def _process_source(name: str, path: str, faces_dir: str, config: AlignConfig) -> dict:
    """Detect, align, crop and measure every face of one source; returns rows, embeddings and frame counts."""
    import cv2

    from swaplab.core import video

    cv2.setNumThreads(1)  # one process per source already uses the cores
    try:
        reader = video.FrameReader(path, every=_every(path, config.sample_fps))
        return _faces_of(name, reader, Path(faces_dir), config)
    except video.VideoError as e:  # unreadable source: reported in the summary, retried on the next run
        return {"name": name, "rows": [], "names": [], "vectors": [], "error": str(e)}


def _faces_of(name: str, reader, faces_dir: Path, config: AlignConfig) -> dict:
    import cv2

    from swaplab.face import identity, landmarks

    mode = "image" if reader.info.codec in {"images", "image"} else "video"
    embedder = identity.Embedder() if config.identity_every > 0 else None
    rows, names, vectors, no_face = [], [], [], 0
    tracks: list[tuple[int, np.ndarray, int]] = []  # (track id, last centre, faces since its last embedding)
    next_track = 0
    (faces_dir / "crops").mkdir(parents=True, exist_ok=True)
    with landmarks.Landmarker(mode, num_faces=config.max_faces) as lm:
        for frame in reader:
            faces = lm.detect(frame.image, int(frame.time * 1000))
            no_face += not faces
            now = []
            for k, face in enumerate(faces):
                crop, matrix = align.crop_face(frame.image, face.landmarks, config.face_size)
                file = f"crops/{name}_{frame.index:06d}_{k}.jpg"
                if not cv2.imwrite(str(faces_dir / file), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]):
                    raise OSError(errno.EIO, "could not write the crop (disk full or not writable?)", str(faces_dir / file))
                # Track by the nearest face centre of the previous frame (within half a face), so the faces
                # of a track that were not embedded take the identity distance of those that were.
                centre = face.landmarks.mean(0)
                free = [t for t in tracks if t[0] not in {n[0] for n in now}]
                match = min(free, key=lambda t: np.linalg.norm(t[1] - centre), default=None)
                if match is not None and np.linalg.norm(match[1] - centre) >= face.size / 2:
                    match = None
                tid, since = (match[0], match[2]) if match else (next_track, config.identity_every)
                next_track += match is None
                embed = embedder is not None and face.size >= config.min_face and (
                    len(faces) > 1 or since >= config.identity_every)
                if embed:
                    names.append(Path(file).stem)
                    vectors.append(embedder.embed_crop(crop))
                now.append((tid, centre, 1 if embed else since + 1))  # frames since the last embedding, this one included
                rows.append(_row(name, frame, k, file, face, matrix, crop, tid, embed))
            tracks = now
    return {"name": name, "rows": rows, "names": names, "vectors": vectors, "frames_read": reader.frames_read,
            "frames_without_face": no_face, "decode_errors": reader.errors, "every": reader.every}


def _every(path: str, sample_fps: float | None) -> int:
    from swaplab.core import video

    return max(1, round(video.probe(path).fps / sample_fps)) if sample_fps else 1


def _row(source: str, frame, k: int, file: str, face, matrix: np.ndarray, crop: np.ndarray, track: int, embedded: bool) -> dict:
    """One index row. Landmarks are in CROP pixels (FACE_SIZE), the matrix maps frame -> crop."""
    from swaplab.face.landmarks import BLENDSHAPE_NAMES

    blur, brightness = measure(crop)
    return {
        "source": source, "frame": frame.index, "time": round(frame.time, 3), "face": k, "file": file,
        "bbox": list(face.bbox), "matrix": np.round(matrix, 6).tolist(),
        "landmarks": np.round(align.transform_points(face.landmarks, matrix), 1).tolist(),  # (478, 2)
        "yaw": round(face.yaw, 1), "pitch": round(face.pitch, 1), "roll": round(face.roll, 1),
        "blendshapes": {n: round(float(s), 3) for n, s in zip(BLENDSHAPE_NAMES, face.blendshapes)},
        "blur": round(blur, 1), "brightness": round(brightness, 1), "size": round(face.size, 1),
        "track": track, "embedded": embedded,
        "identity_distance": None, "kept": False, "why": None,
    }
