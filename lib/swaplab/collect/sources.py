"""Sources for one person: download, copy or link them into ``sources/`` and keep a manifest.

A SOURCES entry is a URL (anything yt-dlp reads: best mp4 with audio, only the
requested time range), a video file, a folder, a glob of those, or a pinned
sample key of ``swaplab.core.assets`` (``"samples/grid/s1/"`` = all of speaker s1).
A folder of images is one source (its frames in name order); each video in a
folder is a source of its own, as 04_swap takes a folder as a batch; a folder
holding both gives both, and ``add_sources`` says so. Each source lands in
``data/<project>/<person>/sources/`` under a new id,
and ``sources/manifest.json`` records where it came from, the range, its
duration, fps, resolution, audio, SHA-256, the date, a licence/consent note and,
for pinned samples, the credit line.

Re-running is cheap: a source whose origin and range are already in the
manifest is skipped, never downloaded or copied again.

Nothing half-made ever sits in ``sources/`` under a real name: every source is
built in a hidden staging folder inside ``sources/``, checked (probe + decode of
its last second, see ``verify_video``), and only then renamed in; a staging
folder left by a killed run is removed by the next one.

01_collect fills a ``CollectConfig`` from its parameters; its ``validate()``
checks every one and resolves every SOURCES entry (``resolve``) before anything
is copied.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from swaplab.collect.fetch import _STAGING, CollectError, _folder_sha256, _slug, _stage, _staging, verify_video
from swaplab.core import assets, paths, video
from swaplab.core.files import atomic_path, read_json, write_json
from swaplab.core.params import Parameters

CONSENT_REMINDER = (
    "No consent note given: record who appears in this footage, that they agreed to its use "
    "for this experiment, and the licence it was published under."
)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class Source:
    """One source to collect, resolved from a SOURCES entry."""

    spec: str  # the SOURCES entry it came from, quoted in errors
    kind: str  # "url", "file", "folder" or "webcam"
    origin: str  # the URL, the absolute path, or "webcam <UTC time>"
    range: str = ""  # "MM:SS-MM:SS" as given; "" = all of it
    start: float = 0.0  # seconds
    duration: float | None = None  # seconds; None = to the end
    path: Path | None = field(default=None, compare=False)  # what to read locally (None for URLs)
    asset: str | None = None  # swaplab.core.assets key when the source is a pinned sample
    note: str = field(default="", compare=False)  # what add_sources prints about how the entry was read ("" = nothing)

    @property
    def key(self) -> str:
        return _key(self.origin, self.start, self.duration)


@dataclass
class Collected:
    """What ``add_sources`` did: manifest entries it added, and those it found already there."""

    added: list[dict]
    existing: list[dict]


def _key(origin: str, start: float, duration: float | None) -> str:
    # Origin plus the range in seconds, so "0:01-0:02" and "00:01-00:02" are the same source.
    end = "end" if duration is None else f"{start + duration:.3f}"
    return f"{origin}|{start:.3f}-{end}"


# ---------------------------------------------------------------- the parameters of 01_collect


@dataclass
class CollectConfig(Parameters):
    """The parameters of 01_collect (defaults as in the notebook); ``validate()`` checks them before anything is copied.

    ``validate()`` resolves every SOURCES entry (``resolve``: globs and sample keys
    expanded, pinned samples fetched into the cache) into ``specs``, and the
    person's ``sources_dir`` and the ``report_json`` that 01_collect writes.
    """

    project: str = "demo"
    person: str = "a"
    sources: list[str] = field(default_factory=lambda: ["samples/grid/s1/"])  # URLs, files, folders, globs, sample keys
    time_ranges: list[str] = field(default_factory=list)  # per source, "MM:SS-MM:SS" or "" for all of it
    link: bool = False  # link local files instead of copying them
    consent_note: str = ""  # kept in the manifest; "" records CONSENT_REMINDER
    webcam_seconds: float = 5.0  # one webcam recording (INTERACTIVE only), 1..60 s
    data_dir: str | Path = "../data"
    interactive: bool = False  # widgets: parameter controls and the webcam recorder
    specs: list[Source] | None = field(init=False, default=None)  # every source SOURCES names, checked
    sources_dir: Path | None = field(init=False, default=None)  # data/<project>/<person>/sources/
    report_json: Path | None = field(init=False, default=None)  # data/<project>/reports/01_collect_<person>.json

    def validate(self) -> CollectConfig:
        """Check the names and every source (a typo fails here, in seconds); returns ``self``."""
        self.check_names("project", "person")
        if not isinstance(self.sources, list) or not all(isinstance(s, str) for s in self.sources):
            self.bad("sources", "must be a list of strings (URLs, files, folders, globs or sample keys)")
        if not self.sources and not self.interactive:
            self.bad("sources", "list at least one URL, file, folder or sample key (or set INTERACTIVE=True to record)")
        if not isinstance(self.time_ranges, (list, tuple)) or not all(isinstance(r, str) for r in self.time_ranges):
            self.bad("time_ranges", 'must be a list of strings, "MM:SS-MM:SS" or "" (all of it) per source')
        self.check_flags("link", "interactive")
        if not isinstance(self.consent_note, str):
            self.bad("consent_note", "must be a string: who is in the footage, that they agreed, and its licence")
        self.check_number("webcam_seconds", 1, 60, "seconds of one webcam recording")
        self.check_folders(data_dir="the folder where projects live, e.g. '../data'")
        self.specs = resolve(self.sources, self.time_ranges, data_dir=self.data_dir)
        self.sources_dir = paths.sources_dir(self.data_dir, self.project, self.person)
        self.report_json = paths.reports_dir(self.data_dir, self.project) / f"01_collect_{self.person}.json"
        return self


# ---------------------------------------------------------------- resolving SOURCES


def resolve(sources: list[str], time_ranges: list[str] | None = None, data_dir: str | Path | None = None) -> list[Source]:
    """Check every SOURCES entry and expand globs and sample keys, before any work is done.

    ``time_ranges[i]`` ("MM:SS-MM:SS" or "") applies to ``sources[i]`` and to every
    file its glob or sample key expands to. Relative paths start from the current
    folder (``notebooks/`` when run from a notebook). Pinned samples are fetched
    into the ``data_dir/samples/`` cache here (from the mirror or their URL).
    """
    if isinstance(sources, str):
        sources = [sources]
    time_ranges = list(time_ranges or [])
    if len(time_ranges) > len(sources):
        raise ValueError(f"TIME_RANGES has {len(time_ranges)} entries for {len(sources)} SOURCES: give at most one per source")
    time_ranges += [""] * (len(sources) - len(time_ranges))
    out: list[Source] = []
    for spec, rng in zip(sources, time_ranges):
        try:
            start, duration = video.parse_range(rng)
        except ValueError as e:
            raise ValueError(f"TIME_RANGES entry for {spec!r}: {e}") from None
        rng = (rng or "").strip()
        for kind, origin, path, asset, note in _expand(str(spec).strip(), data_dir):
            if kind == "folder" and rng:
                what = "holds images as well as videos" if note else "is an image folder"
                raise ValueError(f"{spec!r} {what}: time ranges apply to videos only, so give it '' in TIME_RANGES"
                                 + (" or move the images to a folder of their own" if note else ""))
            src = Source(spec, kind, origin, rng, start, duration, path, asset, note)
            if src not in out:
                out.append(src)
    return out


def _expand(spec: str, data_dir) -> list[tuple[str, str, Path | None, str | None, str]]:
    """(kind, origin, local path, asset key, note) for each source one SOURCES entry names."""
    if not spec:
        raise ValueError("SOURCES holds an empty entry: remove it, or give a URL, a file, a folder or a glob")
    if _URL.match(spec):
        return [("url", spec, None, None, "")]
    if spec.startswith("samples/") and (spec in assets.MANIFEST or (spec.endswith("/") and assets.keys(spec))):
        keys = [spec] if spec in assets.MANIFEST else assets.keys(spec)
        fetched = [assets.fetch(k, data_dir=data_dir, progress=False) for k in keys]
        return [("file", str(p.resolve()), p.resolve(), k, "") for k, p in zip(keys, fetched)]
    if any(c in spec for c in "*?["):
        matches = sorted(glob.glob(os.path.expanduser(spec), recursive=True))
        if not matches:
            raise FileNotFoundError(f"SOURCES entry {spec!r} matches no file (relative to {Path.cwd()}): check the pattern")
        return [found for m in matches for found in _local(Path(m), spec)]
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"SOURCES entry {spec!r} does not exist (looked for {path.resolve()}): check the path; relative paths start from {Path.cwd()}")
    return _local(path, spec)


def _local(path: Path, spec: str) -> list[tuple[str, str, Path, str | None, str]]:
    """A file is one source; a folder's videos are one each, and its images together are one more."""
    path = path.resolve()
    if not path.is_dir():
        # A pinned sample given by path (e.g. in the mirror) is still credited as that sample.
        asset = next((k for k in assets.MANIFEST if path.as_posix().endswith("/" + k)), None)
        return [("file", str(path), path, asset, "")]
    videos, images = video.video_files(path), video.image_files(path)
    if not videos and not images:
        raise FileNotFoundError(f"SOURCES entry {spec!r} is a folder with no video or image in it ({path}; subfolders "
                                "are not searched): add videos (.mp4, .mpg, .gif, ...) or images (.jpg, .png, ...), "
                                "or give a glob such as 'folder/**/*.mp4'")
    note = (f"SOURCES entry {spec!r} holds {len(videos)} videos and {len(images)} images: each video is collected as "
            "a source of its own, and the images together as one image-folder source") if videos and images else ""
    found = [entry for v in videos for entry in _local(v, spec)]
    return found + ([("folder", str(path), path, None, note)] if images else [])



# ---------------------------------------------------------------- the manifest


def manifest_path(data_dir: str | Path, project: str, person: str) -> Path:
    return paths.sources_dir(data_dir, project, person) / "manifest.json"


def load_manifest(data_dir: str | Path, project: str, person: str) -> dict:
    """The person's manifest (an empty one when nothing was collected yet)."""
    empty = {"project": project, "person": person, "sources": []}
    return read_json(manifest_path(data_dir, project, person), default=empty)


def add_sources(
    data_dir: str | Path,
    project: str,
    person: str,
    sources: list[str],
    time_ranges: list[str] | None = None,
    link: bool = False,
    consent_note: str = "",
    progress: bool = True,
) -> Collected:
    """Collect ``sources`` into ``data/<project>/<person>/sources/``; skip those already in the manifest.

    ``link=True`` hard-links local files (a symlink across file systems, and for
    folders) instead of copying them; a file with a time range is always cut
    (re-encoded to H.264/AAC mp4, so the cut is frame-accurate). The manifest is
    saved after each new source, so an error on one keeps the ones before it.
    """
    from tqdm.auto import tqdm

    folder = paths.sources_dir(data_dir, project, person)  # checks PROJECT and PERSON first
    todo = resolve(sources, time_ranges, data_dir=data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(_STAGING + "*"):  # left by a run that was killed mid-source
        shutil.rmtree(stale, ignore_errors=True)
    for note in dict.fromkeys(src.note for src in todo if src.note):  # once each, in order
        print(note)
    manifest = load_manifest(data_dir, project, person)
    known = {_key(e["origin"], e["start"], e["duration_requested"]): e for e in manifest["sources"]}
    done = Collected([], [])
    for src in tqdm(todo, desc=f"sources of {person}", unit="source", disable=not progress):
        if src.key in known:
            done.existing.append(known[src.key])
            continue
        entry = _ingest(src, data_dir, project, person, manifest, link, consent_note, progress)
        known[src.key] = entry
        done.added.append(entry)
    return done


def add_recording(data_dir: str | Path, project: str, person: str, clip: str | Path, consent_note: str = "") -> dict:
    """Add a webcam clip (any format ffmpeg reads) as a new source; it is re-encoded to mp4.

    Browser recordings (WebM from MediaRecorder) carry no duration, so the clip
    is always re-encoded; the clip file itself is left for the caller to delete.
    """
    paths.sources_dir(data_dir, project, person)  # checks the names
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    src = Source(str(clip), "webcam", f"webcam {when}", path=Path(clip))
    return _ingest(src, data_dir, project, person, load_manifest(data_dir, project, person), False, consent_note, False)


def _ingest(src: Source, data_dir, project: str, person: str, manifest: dict, link: bool, consent_note: str, progress: bool) -> dict:
    """Stage one source, verify it, rename it into sources/, and record it in the manifest."""
    folder = paths.sources_dir(data_dir, project, person)
    sid = f"{1 + max((int(e['id']) for e in manifest['sources']), default=0):03d}"
    with _staging(folder) as tmp:
        try:
            staged = _stage(src, tmp, link, progress)
            info = verify_video(staged, src.origin if src.kind != "webcam" else src.spec)
        except (CollectError, video.VideoError) as e:
            raise CollectError(f"SOURCES entry {src.spec!r}: {e}") from None
        name = f"{sid}-{_slug(staged.stem)}{staged.suffix}"
        digest = _folder_sha256(staged) if staged.is_dir() else assets.sha256_of(staged)  # both follow links
        stored_as = "symlink" if staged.is_symlink() else "hardlink" if staged.stat().st_nlink > 1 and src.kind == "file" else "copy"
        os.replace(staged, folder / name)  # same folder tree, so the rename is atomic
    asset = assets.MANIFEST.get(src.asset) if src.asset else None
    entry = {
        "id": sid,
        "kind": src.kind,
        "origin": src.origin,
        "range": src.range,
        "start": src.start,
        "duration_requested": src.duration,
        "file": name,
        "stored_as": stored_as,
        "duration": round(info.duration, 3),
        "fps": info.fps,
        "frame_count": info.frame_count,
        "resolution": info.resolution,
        "has_audio": info.has_audio,
        "sha256": digest,
        "added": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "asset": src.asset,
        "licence": asset.licence if asset else None,
        "credits": assets.credits([src.asset]) if src.asset else [],
        "consent_note": consent_note.strip() or CONSENT_REMINDER,
    }
    manifest["sources"].append(entry)
    write_json(manifest_path(data_dir, project, person), manifest)
    return entry


# ---------------------------------------------------------------- reports


def summary(data_dir: str | Path, project: str, person: str) -> dict:
    """Totals over the manifest, for ``reports/01_collect_<person>.json``."""
    entries = load_manifest(data_dir, project, person)["sources"]
    kinds: dict[str, int] = {}
    for e in entries:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    credits: list[str] = []
    for e in entries:
        credits += [c for c in e["credits"] if c not in credits]
    return {
        "project": project,
        "person": person,
        "sources": len(entries),
        "by_kind": kinds,
        "total_duration_s": round(sum(e["duration"] for e in entries), 3),
        "total_frames": sum(e["frame_count"] for e in entries),
        "with_audio": sum(bool(e["has_audio"]) for e in entries),
        "resolutions": sorted({e["resolution"] for e in entries}),
        "credits": credits,
        "manifest": str(manifest_path(data_dir, project, person)),
    }


def contact_sheet(data_dir: str | Path, project: str, person: str, per_source: int = 4, width: int = 160, columns: int = 2) -> Path:
    """Draw ``per_source`` evenly spaced frames of every source, one labelled strip per source; save the PNG.

    Saved to ``data/<project>/reports/01_collect_<person>.png`` and returned. The
    sheet is composed as one array (no plotting library, so it is fast and works
    headless); sources are sampled in parallel, since each costs an ffmpeg start.
    """
    from concurrent.futures import ThreadPoolExecutor

    import cv2
    import numpy as np

    folder = paths.sources_dir(data_dir, project, person)
    entries = load_manifest(data_dir, project, person)["sources"]
    if not entries:
        raise CollectError(f"{folder} holds no sources yet: add some with add_sources (SOURCES in 01_collect) first")
    with ThreadPoolExecutor(max_workers=4) as pool:
        samples = list(pool.map(lambda e: video.sample_frames(folder / e["file"], per_source, width=width), entries))
    cell_h = max(f.image.shape[0] for frames in samples for f in frames)
    label_h = 18
    tiles = []
    for e, frames in zip(entries, samples):
        tile = np.full((label_h + cell_h, per_source * width, 3), 255, np.uint8)  # white label band above the frames
        for j, f in enumerate(frames):
            tile[label_h:label_h + f.image.shape[0], j * width:j * width + f.image.shape[1]] = f.image
        label = f"{e['file'][:40]}  {e['duration']:.1f}s {e['resolution']}"
        cv2.putText(tile, label, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    columns = max(1, min(columns, len(tiles)))
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % columns)  # pad the last row
    rows = [np.hstack(tiles[r:r + columns]) for r in range(0, len(tiles), columns)]
    sheet = np.vstack(rows)  # (rows * (label_h + cell_h), columns * per_source * width, 3) uint8 RGB
    out = paths.reports_dir(data_dir, project) / f"01_collect_{person}.png"
    with atomic_path(out) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise CollectError(f"could not write {out}: check that the folder is writable")
    return out
