"""Identity galleries of the 05 stage: each person's centroid and spread of dlib descriptors, for the N-way vote.

A face set's kept faces that 02_align already embedded are used as they are (free); a face set with
fewer than ``GALLERY_MIN`` of them gets up to ``GALLERY_MAX`` kept crops embedded here, spread over the set.
``other_identities`` lists every other person of the project (and any distractor face sets) for the vote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from swaplab.core import paths

SPREAD_QUANTILE = 0.9  # a swapped face "within the target's spread" is as close to B's centroid as 90 % of B's own faces
# dlib's ResNet (no BLAS in the dlib-bin wheel) takes 0.1-0.3 s a face on a 2-core CPU, so embed samples:
GALLERY_MIN = 10  # a face set with fewer faces already embedded by 02_align (~1 in 10) gets more embedded here
GALLERY_MAX = 32  # faces embedded for a centroid (one face sits ~0.35 from it; 32 pin it to ~0.06)


def gallery(faces, embedder, max_faces: int = GALLERY_MAX) -> dict:
    """{"centroid": (128,), "faces": n, "spread": distance within which SPREAD_QUANTILE of the person's own faces lie}.

    ``faces`` as in ``gallery_centroid``. The spread says how far from the centroid
    a real face of this person sits; a swapped face farther out looks less like
    the person than nearly all of their own footage does.
    """
    from swaplab.face import identity

    vectors = _gallery_vectors(faces, embedder, max_faces)
    c = identity.centroid(vectors)
    d = identity.distance(vectors, c[None])
    return {"centroid": c, "faces": len(vectors), "spread": float(np.quantile(d, SPREAD_QUANTILE))}


def other_identities(data_dir: str | Path, project: str, exclude, distractors=()) -> dict[str, Path]:
    """{name: faces dir} for the N-way identity vote: every person of ``project`` with a face set
    except ``exclude`` (the source and the target), plus ``distractors`` (faces/ folders of 02_align)."""
    found = {d.parent.name: d for d in sorted(paths.project_dir(data_dir, project).glob("*/faces"))
             if d.parent.name not in set(exclude) and (d / "summary.json").exists()}
    for extra in distractors:
        extra = Path(extra)
        if not (extra / "summary.json").exists():
            raise FileNotFoundError(f"DISTRACTORS: {extra} is not a face set (no summary.json): give faces/ folders made by 02_align")
        found[f"{extra.parent.name}@{extra.parent.parent.name}"] = extra
    return found


def _gallery_vectors(faces, embedder, max_faces: int) -> np.ndarray:
    if isinstance(faces, (str, Path)):
        return _face_set_embeddings(Path(faces), embedder, max_faces)
    crops = np.asarray(faces)
    if len(crops) == 0:
        raise ValueError("the gallery holds no faces: give at least one aligned crop")
    pick = np.linspace(0, len(crops) - 1, min(len(crops), max_faces)).round().astype(int)
    return embedder.embed_crops(crops[pick])


def gallery_centroid(faces, embedder, max_faces: int = GALLERY_MAX) -> tuple[np.ndarray, int]:
    """(centroid (128,) float32, faces used) of one person's gallery.

    ``faces``: a face set folder (``data/<project>/<person>/faces``) or an
    (N, S, S, 3) uint8 array of aligned crops. A face set's kept faces that
    02_align already embedded are used as they are (free); only when it holds
    fewer than ``GALLERY_MIN`` are up to ``max_faces`` kept crops, spread over
    the set, embedded here.
    """
    from swaplab.face import identity

    vectors = _gallery_vectors(faces, embedder, max_faces)
    return identity.centroid(vectors), len(vectors)


_EMBEDDED: dict[tuple, np.ndarray] = {}  # (face set, its index's mtime, max_faces) -> vectors: probes re-score often


def _face_set_embeddings(faces_dir: Path, embedder, max_faces: int) -> np.ndarray:
    """(N, 128) float32 descriptors of a face set's kept faces: stored ones, or embedded now if too few are."""
    index = faces_dir / "index.jsonl"
    key = (str(faces_dir.resolve()), index.stat().st_mtime_ns if index.exists() else None, max_faces)
    if key not in _EMBEDDED:
        _EMBEDDED[key] = _embed_face_set(faces_dir, embedder, max_faces)
    return _EMBEDDED[key]


def _embed_face_set(faces_dir: Path, embedder, max_faces: int) -> np.ndarray:
    from swaplab.face import faceset

    fs = faceset.FaceSet(faces_dir)  # raises "run 02_align" when the folder is missing
    kept = fs.kept()
    if not kept:
        raise ValueError(f"{faces_dir} has no kept faces (all {len(fs.rows)} were dropped): "
                         "loosen 02_align's filters or add sources for this person")
    stored = fs.embeddings()  # {crop stem: (128,)}
    vectors = [stored[Path(r["file"]).stem] for r in kept if Path(r["file"]).stem in stored]
    if len(vectors) >= min(GALLERY_MIN, len(kept)):
        return np.stack(vectors).astype(np.float32)

    def vector(row: dict) -> np.ndarray:
        stem = Path(row["file"]).stem
        return stored[stem] if stem in stored else embedder.embed_crop(fs.image(row))

    pick = np.linspace(0, len(kept) - 1, min(len(kept), max_faces)).round().astype(int)
    return np.stack([vector(kept[i]) for i in pick]).astype(np.float32)

