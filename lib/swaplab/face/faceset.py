"""A person's face set on disk, as every stage reads it: ``FaceSet`` (the index, the summary, the crops),
``load_training_arrays`` (the kept faces as training arrays) and ``load_expression_arrays`` (some of them given other
expressions); building it is 02_align's (``swaplab.align.build``).

On disk, ``data/<project>/<person>/faces/``:
  crops/<source>_<frame:06d>_<face>.jpg  every detected face, aligned, FACE_SIZE px, RGB JPEG q95
  index.jsonl     one JSON object per detected face, kept or dropped (``swaplab.align.extract``)
  summary.json    counts per reason and per source, frames read, frames without a face, settings
  embeddings.npz  dlib descriptors of the faces that were embedded, by crop name
  source_hashes.json  the SHA-256 of each source file, by size and mtime: a cache, so a run's provenance does
                  not hash a big video again every run (``FaceSet.provenance``)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from swaplab.core.files import read_json, write_json
from swaplab.face import align, expression
from swaplab.face import sketch as drawing

MASK_CHANNELS = 2  # face hull, eyes + brows + mouth; a sketched model's training masks carry its sketch after them

FACE_SIZE = 256  # px side of the saved crops; training resizes down from it
_ROW_KEYS = ("source", "frame", "face", "file", "landmarks", "kept", "why")  # what every index row must have
SOURCE_HASHES = "source_hashes.json"
_EXTS = (".mpg", ".mpeg", ".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif", ".jpg", ".jpeg", ".png", ".bmp", ".webp")


class FaceSetError(RuntimeError):
    """A face set that cannot be built or read; the message names the folder or file and says what to do."""


def find_sources(sources_dir: str | Path) -> dict[str, Path]:
    """{source name: path} of a person's sources: the manifest's files, else every video/GIF/image/folder there."""
    folder = Path(sources_dir)
    if not folder.is_dir():
        return {}
    manifest = read_json(folder / "manifest.json", default={"sources": []})
    files = [folder / e["file"] for e in manifest["sources"]]
    if not files:  # no manifest (files dropped in by hand): take whatever looks like a source
        files = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in _EXTS))
    return {p.stem if p.is_file() else p.name: p for p in files}



def _nothing_found(person: str, src_dir: Path, per_source: dict) -> str:
    """Why a person's sources gave no face at all, and what to do, in one line."""
    errors = {n: " ".join(str(s["error"]).split()) for n, s in per_source.items() if "error" in s}
    if errors and len(errors) == len(per_source):
        listed = "; ".join(f"{n}: {e}" for n, e in list(errors.items())[:2])
        more = f"; and {len(errors) - 2} more" if len(errors) > 2 else ""
        return (f"02_align could read none of the {len(errors)} sources of person {person} in {src_dir} ({listed}{more}): "
                "replace them, or collect them again with 01_collect")
    frames = sum(s.get("frames_read", 0) for s in per_source.values())
    unreadable = f"; {len(errors)} could not be read: {', '.join(errors)}" if errors else ""
    return (f"02_align found no face in the {frames} frames it read from the sources of person {person} in {src_dir}"
            f"{unreadable}: collect footage where the face is clearly visible (01_collect), then run 02_align again")



# ---------------------------------------------------------------- reading a face set


class FaceSet:
    """A face set on disk: ``.rows`` (index.jsonl as dicts), ``.summary``, and ways to look at them.

    A line of index.jsonl that is not a face record, or an unreadable summary.json,
    raises ``FaceSetError`` naming the file, the line and what to do; with
    ``repair=True`` (what ``align_person`` uses) bad lines are skipped and kept in
    ``bad_lines``, and an unreadable summary reads as empty (the set is rebuilt).
    """

    def __init__(self, faces_dir: str | Path, must_exist: bool = True, repair: bool = False):
        self.dir = Path(faces_dir)
        if must_exist and not (self.dir / "summary.json").exists():
            raise FileNotFoundError(f"{self.dir} is empty: run 02_align for person {self.person} first")
        self.bad_lines: list[tuple[int, str]] = []  # (line number, text) of index lines skipped with ``repair``
        self.summary_damage = ""  # with ``repair``: why summary.json could not be read ("" = it could, or is absent)
        self.rows: list[dict] = self._read_index(repair)
        try:
            self.summary: dict = read_json(self.dir / "summary.json", default={})
        except (OSError, ValueError) as e:  # ValueError: JSONDecodeError, UnicodeDecodeError
            why = " ".join(str(e).split())[:100]
            if not repair:
                raise FaceSetError(f"{self.dir / 'summary.json'} is damaged ({why}): run "
                                   f"02_align for person {self.person} to rebuild the face set") from None
            self.summary, self.summary_damage = {}, why

    def _read_index(self, repair: bool) -> list[dict]:
        index = self.dir / "index.jsonl"
        if not index.exists():
            return []
        rows = []
        for n, line in enumerate(index.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not all(k in row for k in _ROW_KEYS):
                    raise ValueError(f"a face record needs {', '.join(_ROW_KEYS)}")
            except ValueError as e:
                if not repair:
                    why = f"{e.msg} at column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
                    raise FaceSetError(
                        f"{index} line {n} is not a valid face record ({why}): run 02_align for person {self.person} "
                        f"to repair the index (it drops the line and reads that source again), or delete {self.dir} "
                        "to align from scratch") from None
                self.bad_lines.append((n, line))
                continue
            rows.append(row)
        return rows

    def damaged_sources(self) -> set[str]:
        """Sources that lost rows to ``bad_lines``: fewer rows than summary.json counted, or named in a bad line."""
        return {name for _, names in self.damaged_lines() for name in names}

    def damaged_lines(self) -> list[tuple[int, list[str]]]:
        """(line number, sources it may have held) for each of ``bad_lines``, sorted names: the source the line
        still names, else every source with fewer rows than summary.json counted, else all of them (no clue which)."""
        found: dict[str, int] = {}
        for r in self.rows:
            found[r["source"]] = found.get(r["source"], 0) + 1
        recorded = self.summary.get("sources", {})
        short = sorted(n for n, s in recorded.items() if found.get(n, 0) < s.get("faces", 0)) or sorted(recorded)
        named = [(n, re.search(r'"source":\s*"([^"]+)"', line)) for n, line in self.bad_lines]
        return [(n, [m.group(1)] if m else short) for n, m in named]

    def why_empty(self) -> str:
        """Why no face of this set is kept, and what to do, in one line."""
        s = self.summary
        if not s:
            return f"{self.dir} is empty: run 02_align for person {self.person} first"
        if not self.rows:
            return _nothing_found(self.person, self.dir.parent / "sources", s.get("sources", {}))
        dropped = ", ".join(f"{n} {w}" for w, n in s.get("dropped", {}).items() if n)
        return (f"{self.dir} keeps none of its {len(self.rows)} faces (dropped: {dropped or 'all'}): lower MIN_FACE, "
                f"BLUR_MIN or DEDUPE, or give a REFERENCE photo, and run 02_align for person {self.person} again")

    @property
    def person(self) -> str:
        return self.dir.parent.name

    @property
    def face_size(self) -> int:
        return int(self.summary.get("face_size", FACE_SIZE))

    def kept(self) -> list[dict]:
        return [r for r in self.rows if r["kept"]]

    def dropped(self, why: str | None = None) -> list[dict]:
        """Dropped rows, all of them or those dropped for one reason (one of ``REASONS``)."""
        return [r for r in self.rows if not r["kept"] and (why is None or r["why"] == why)]

    def values(self, key: str, rows: list[dict] | None = None) -> np.ndarray:
        """(N,) float32 of a row field ("yaw", "blur", ...) or a blendshape name ("jawOpen"), for ``rows`` (default kept)."""
        rows = self.kept() if rows is None else rows
        return np.array([r[key] if key in r else r["blendshapes"].get(key, 0.0) for r in rows], np.float32)

    def image(self, row: dict) -> np.ndarray:
        """The (FACE_SIZE, FACE_SIZE, 3) uint8 RGB crop of a row."""
        from swaplab.core.video import _read_image

        return _read_image(self.dir / row["file"])

    def embeddings(self) -> dict[str, np.ndarray]:
        """{crop name: (128,) float32} of the faces that were embedded."""
        path = self.dir / "embeddings.npz"
        if not path.exists():
            return {}
        with np.load(path) as z:
            return dict(zip(z["names"].tolist(), z["vectors"]))

    def content_hash(self) -> str:
        """SHA-256 of the kept faces as training reads them: each crop's name, landmarks and file bytes, in order."""
        digest = hashlib.sha256()
        for r in self.kept():
            digest.update(json.dumps([r["file"], r["landmarks"]], separators=(",", ":")).encode())
            crop = self.dir / r["file"]
            digest.update(crop.read_bytes() if crop.exists() else b"missing")
        return digest.hexdigest()

    def source_hashes(self, names) -> dict[str, str]:
        """{source name: SHA-256 of its file (a folder of images: over its "name sha256" lines, as 01_collect's
        manifest)} for ``names``, "" for a source no longer in sources/. Hashed once: kept in SOURCE_HASHES by size
        and mtime (not written where the face set is read-only)."""
        found = find_sources(self.dir.parent / "sources")
        cache = read_json(self.dir / SOURCE_HASHES, {}) or {}
        out, changed = {}, False
        for name in names:
            if name not in found:
                out[name] = ""
                continue
            stamp = _stamp(found[name])
            if cache.get(name, {}).get("stamp") != stamp:
                cache[name], changed = {"stamp": stamp, "sha256": _sha256(found[name])}, True
            out[name] = cache[name]["sha256"]
        if changed:
            try:
                write_json(self.dir / SOURCE_HASHES, cache)
            except OSError:
                pass
        return out

    def provenance(self) -> dict:
        """What a run records of this face set (``swaplab.model.provenance``): its folder, the content hash and count of
        its kept faces, and each source that gave kept faces, with its SHA-256 and number of faces."""
        kept = self.kept()
        faces: dict[str, int] = {}
        for r in kept:
            faces[r["source"]] = faces.get(r["source"], 0) + 1
        hashes = self.source_hashes(sorted(faces))
        return {"faces_dir": str(self.dir.resolve()), "hash": self.content_hash(), "count": len(kept),
                "sources": [{"name": n, "sha256": hashes[n], "faces": faces[n]} for n in sorted(faces)]}

    def __len__(self) -> int:
        return len(self.kept())

    def __repr__(self) -> str:
        return f"FaceSet({self.dir}: {len(self)} kept of {len(self.rows)} faces)"


def _files_of(source: Path) -> list[Path]:
    return sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]


def _stamp(source: Path) -> list[int]:
    """[size, mtime_ns] of a source file (of a folder: summed and latest), so a changed file is hashed again."""
    stats = [p.stat() for p in _files_of(source)]
    return [sum(st.st_size for st in stats), max((st.st_mtime_ns for st in stats), default=0)]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _sha256(source: Path) -> str:
    """SHA-256 of a source file; of a folder of images, over its sorted "name sha256" lines (01_collect's manifest)."""
    if not source.is_dir():
        return _sha256_file(source)
    from swaplab.core import video

    lines = [f"{f.name} {_sha256_file(f)}\n" for f in video.image_files(source)]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def sketch_of(masks):
    """The sketch channels of training masks (``load_training_arrays(sketch=True)``), or None for masks without."""
    return masks[..., MASK_CHANNELS:] if masks.shape[-1] > MASK_CHANNELS else None


def load_training_arrays(faces_dir: str | Path, size: int, sketch: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(images, masks) of the KEPT faces at ``size`` px, for training.

    images: (N, size, size, 3) uint8 RGB, crops resized with INTER_AREA.
    masks: (N, size, size, 2) uint8 in {0, 255} (face hull, eyes+brows+mouth),
    drawn from the landmarks scaled to ``size``; with ``sketch`` two more channels, the face's sketch
    (``swaplab.face.sketch.for_decoder``, for a sketched autoencoder), which the augmentation then moves with the face.
    """
    fs, rows = _kept(faces_dir)
    return _arrays(fs, [(r, None) for r in rows], size, sketch)


def load_expression_arrays(faces_dir: str | Path, size: int, share: float, seed: int = 0,
                           sketch: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(images, masks) as ``load_training_arrays``' of ``share`` x N of the kept faces (a random choice, every face at
    most ``ceil(share)`` times), each given another expression (``swaplab.face.expression.variant``: lids and mouth
    moved, at the crop's full size before the resize), its masks and sketch drawn from its moved landmarks."""
    fs, rows = _kept(faces_dir)
    n = int(round(share * len(rows)))
    rng = np.random.default_rng(seed)
    picks = np.concatenate([rng.permutation(len(rows)) for _ in range(-(-n // len(rows)))])[:n] if n else []
    tri = expression.triangles(np.array([r["landmarks"] for r in rows], np.float64))
    seeds = rng.integers(0, 2**31, len(picks))
    return _arrays(fs, [(rows[i], (tri, s)) for i, s in zip(picks, seeds)], size, sketch)


def _kept(faces_dir: str | Path) -> tuple["FaceSet", list[dict]]:
    fs = FaceSet(faces_dir, must_exist=False)
    rows = fs.kept()
    if not rows:
        raise FileNotFoundError(fs.why_empty())
    return fs, rows


def _arrays(fs: "FaceSet", jobs: list, size: int, sketch: bool) -> tuple[np.ndarray, np.ndarray]:
    """(images, masks) of ``jobs``: (row, None) as the row is, or (row, (triangles, seed)) given another expression."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    def one(job):  # cv2 releases the GIL while decoding and warping, so threads overlap the work
        r, expr = job
        img, points = fs.image(r), np.asarray(r["landmarks"], np.float64)
        if expr is not None:
            at = img.shape[0]  # the crop's own size (FACE_SIZE, as the landmarks, unless a face set says otherwise)
            img, points = expression.variant(img, align.rescale_points(points, fs.face_size, at),
                                             np.random.default_rng(expr[1]), expr[0])
            points = align.rescale_points(points, at, fs.face_size)
        if img.shape[0] != size:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        points = align.rescale_points(points, fs.face_size, size)  # pixel centres, as the crop
        masks = align.landmark_masks(points, size)
        return img, (np.concatenate([masks, drawing.for_decoder(points[None], size)[0]], -1) if sketch else masks)
    if not jobs:
        return (np.zeros((0, size, size, 3), np.uint8),
                np.zeros((0, size, size, MASK_CHANNELS + (drawing.CHANNELS if sketch else 0)), np.uint8))
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        pairs = list(pool.map(one, jobs))
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
