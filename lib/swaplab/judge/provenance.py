"""The leak guard of the 05 stage: did the run train on the clip being scored, or hold its faces in its banks?

A self-swap is a full-reference test only on footage the run never saw: a clip it trained on scores its memory.
The clip is compared by content, never by name (a renamed copy is the same clip, and two clips of one name need
not be): first by the SHA-256 of its file (``clip_sha256``), then, when that finds nothing, by its faces
(``content_check``): a clip cut from a trained source and re-encoded, or the same footage downloaded again at
another quality, has other bytes but the same faces, moving the same way at one time offset from the source's.

- A run that records what trained it (``weights/<project>/<run>/provenance.json``, written by 03_train) is
  checked against every source of every stage and person in it (``read_provenance`` checks its schema)::

      {"version": 1, "stages": {"<stage: autoencoder, detail, ...>": {"<person>": {
          "faces_dir": str, "hash": str, "count": int,
          "sources": [{"name": str, "sha256": str, "faces": int, "time": [first, last] (optional)}]}}}}

  The detail stage's sources are those of the faces its exemplar banks hold. Its ``fingerprints.npz``
  (``swaplab.model.provenance``: each source's faces as normalised 16 px grey thumbnails, with their times) is
  what the content check compares the clip's faces with (``swaplab.face.fingerprint``); a run saved before
  fingerprints is checked by hash only, and the result says so in its line.
- An older run without it is checked against every file in the sources folders of the run's face sets
  (``data/<project>/<person>/sources/``): everything any face set of the project could have been made from.
  The result says in one line that the run has no provenance.

``check_clip`` returns ``{"seen", "sha256", "overlap", "provenance", "content", "line"}``; 05_evaluate refuses a seen
self-swap unless ALLOW_SEEN, and then labels every figure "seen".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

PROVENANCE_FILE = "provenance.json"
VERSION = 1
MIN_SCORE = 0.7  # the motion correlation from which a clip's faces are a trained source's (chosen on GRID s2 and half
# of s1: benchmarks/leak_guard.py; two clips of one speaker saying the same words reach 0.66 there, see docs/trust.md)
MIN_PAIRS = 12  # frames paired, at least (half a second at 25 fps)
_SKIP = {"manifest.json"}  # 01_collect's record of the sources, not a source
_DIGESTS: dict[tuple, str] = {}  # (path, size, mtime) -> SHA-256: a project's sources are hashed once per session


def clip_sha256(path: str | Path) -> str:
    """The SHA-256 (hex) of a file's bytes, read in 1 MiB blocks; cached by path, size and modification time."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def read_provenance(run_dir: str | Path) -> dict | None:
    """The run's provenance.json, its schema checked; None when the run has none (an older run)."""
    path = Path(run_dir) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} cannot be read ({(str(e).splitlines() or [type(e).__name__])[0][:80]}): restore it, "
                         "or delete it to check against the face sets' sources instead") from None
    problem = schema_problem(data)
    if problem:
        raise ValueError(f"{path}: {problem}: it is not a provenance file of version {VERSION} (written by 03_train); "
                         "restore it, or delete it to check against the face sets' sources instead")
    return data


def schema_problem(data) -> str | None:
    """What is wrong with a provenance record (the first thing found), or None when it fits the schema."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return f"version is {data.get('version') if isinstance(data, dict) else data!r}, not {VERSION}"
    if not isinstance(data.get("stages"), dict):
        return "it has no \"stages\" object"
    for stage, people in data["stages"].items():
        if not isinstance(people, dict):
            return f"stages.{stage} is not an object of people"
        for person, record in people.items():
            where = f"stages.{stage}.{person}"
            if not isinstance(record, dict):
                return f"{where} is not an object"
            for key, kind in (("faces_dir", str), ("hash", str), ("count", int), ("sources", list)):
                if not isinstance(record.get(key), kind):
                    return f"{where}.{key} is missing or not a {kind.__name__}"
            for i, src in enumerate(record["sources"]):
                if not (isinstance(src, dict) and isinstance(src.get("name"), str) and isinstance(src.get("faces"), int)
                        and isinstance(src.get("sha256"), str) and len(src["sha256"]) == 64):
                    return f"{where}.sources[{i}] needs a name, a 64-digit sha256 and a whole number of faces"
                span = src.get("time", [0.0, 0.0])  # the time range of its faces (runs saved before it have none)
                if not (isinstance(span, list) and len(span) == 2 and all(isinstance(v, (int, float)) for v in span)):
                    return f"{where}.sources[{i}].time is not [first, last] seconds"
    return None


def check_clip(run_dir: str | Path, clip: str | Path, data_dir: str | Path | None = None, project: str | None = None,
               people=None, content: bool = True) -> dict:
    """Is ``clip`` among what the run in ``run_dir`` trained on (or holds in its banks)? By SHA-256, then by its faces.

    ``data_dir``, ``project``, ``people``: where the run's face sets live, for a run without provenance.json
    (default: the run's own config.json). ``content``: when the hash finds nothing, compare the clip's faces with
    the run's fingerprints (``content_check``: a cut of a trained source, re-encoded). Returns {"seen": bool,
    "sha256": the clip's, "overlap": [{"stage", "person", "source", "faces"} (+ "clip", "source_time", "score",
    "pairs" when found by content)], "provenance": whether the run records it, "content": ``content_check``'s
    result or None, "line": one line saying what was checked and what was found}.
    """
    clip = Path(clip)
    if not clip.is_file():
        raise FileNotFoundError(f"{clip} is not a file: the leak guard hashes the clip's bytes; give the clip's path")
    digest = clip_sha256(clip)
    record = read_provenance(run_dir)
    if record is not None:
        overlap = [{"stage": stage, "person": person, "source": src["name"], "faces": src["faces"]}
                   for stage, ppl in record["stages"].items() for person, rec in ppl.items()
                   for src in rec["sources"] if src["sha256"].lower() == digest]
        n = sum(len(rec["sources"]) for ppl in record["stages"].values() for rec in ppl.values())
        checked = f"against the {n} sources of its {PROVENANCE_FILE}"
    else:
        overlap, checked = _check_source_folders(run_dir, digest, data_dir, project, people)
    name = f"{clip.name} (sha256 {digest[:12]})"
    run = Path(run_dir).name
    found = content_check(run_dir, clip, record) if content and not overlap else None
    if overlap:
        where = ", ".join(f"{o['stage']}/{o['person']} source {o['source']!r}"
                          + (f" ({o['faces']} faces)" if o.get("faces") is not None else "") for o in overlap)
        line = f"{name} is what RUN={run!r} trained on: {where}"
    elif found and found["overlap"]:
        overlap = found["overlap"]
        line = f"{name} is cut from what RUN={run!r} trained on: {found['line']}"
    else:
        line = f"{name} is not among what RUN={run!r} trained on" + (f"; {found['line']}" if found else "")
    if record is None:
        line += f"; the run has no {PROVENANCE_FILE} (an older run): checked {checked}"
    return {"seen": bool(overlap), "sha256": digest, "overlap": overlap, "provenance": record is not None,
            "content": found, "line": line}


def content_check(run_dir: str | Path, clip: str | Path, record: dict | None) -> dict:
    """The clip's faces (``fingerprint.of_clip``) against the faces of every source in the run's fingerprints.npz
    (``fingerprint.match``): seen when one source's faces follow the clip's in order at one time offset, their motion
    correlating at least ``MIN_SCORE`` over at least ``MIN_PAIRS`` frames. Returns {"ran": bool, "overlap": as
    ``check_clip``'s, one per stage and person of the matched source, "best": the best match of any source (with
    "source") or None, "line": one line}."""
    from swaplab.face import fingerprint
    from swaplab.model import provenance as prov
    from swaplab.model import runs

    prints = prov.read_fingerprints(runs.path(run_dir, prov.FINGERPRINTS)) if record is not None else None
    if not prints:
        why = (f"the run has no {prov.FINGERPRINTS} (saved before 05 compared faces, or trained on faces in memory)"
               if record is not None else f"the run has no {PROVENANCE_FILE}")
        return {"ran": False, "overlap": [], "best": None, "line": f"the content check could not run: {why}; only the "
                "file hash was checked (a cut or re-encoded copy of a trained source would pass)"}
    times, thumbs, looked = fingerprint.of_clip(clip)
    if not len(times):
        return {"ran": False, "overlap": [], "best": None,
                "line": f"the content check found no face in the {looked} frames of the clip it looked at"}
    matches = []
    for (source, digest), faces in prints.items():
        m = fingerprint.match((times, thumbs), faces, MIN_PAIRS)
        if m is not None:
            matches.append({**m, "source": source, "sha256": digest})
    best = max(matches, key=lambda m: m["score"], default=None)
    faces = f"its faces ({len(times)} of the {looked} frames looked at)"
    if best is None or best["score"] < MIN_SCORE:
        near = f": the nearest, source {best['source']!r}, correlates {best['score']:.2f}" if best else ""
        return {"ran": True, "overlap": [], "best": best,
                "line": f"nor are {faces} cut from any of its {len(prints)} sources' faces{near} (seen from {MIN_SCORE})"}
    overlap = [{"stage": stage, "person": person, "source": src["name"], "faces": src["faces"], "clip": best["clip_time"],
                "source_time": best["source_time"], "score": best["score"], "pairs": best["pairs"]}
               for stage, ppl in record["stages"].items() for person, rec in ppl.items()
               for src in rec["sources"] if (src["name"], src["sha256"]) == (best["source"], best["sha256"])]
    where = ", ".join(f"{o['stage']}/{o['person']}" for o in overlap) or "a stage no longer in its provenance"
    (a, b), (c, d) = best["clip_time"], best["source_time"]
    return {"ran": True, "overlap": overlap, "best": best,
            "line": f"frames {a:.1f}-{b:.1f} s match source {best['source']!r} {c:.1f}-{d:.1f} s the run trained on "
                    f"({where}; their faces' motion correlates {best['score']:.2f} over {best['pairs']} frames)"}


def _check_source_folders(run_dir, digest: str, data_dir, project, people) -> tuple[list[dict], str]:
    """(overlap, what was checked): the clip's digest against every file in the sources folders of ``people``."""
    from swaplab.core import paths

    config = _run_config(run_dir)
    data_dir = data_dir if data_dir is not None else config.get("data_dir", "data")
    project = project or config.get("project") or Path(run_dir).parent.name
    people = list(people or config.get("pretrain_people") or (config.get("person_a", "a"), config.get("person_b", "b")))
    overlap, files, missing = [], 0, []
    for person in people:
        folder = paths.sources_dir(data_dir, project, person)
        found = sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in _SKIP) if folder.is_dir() else []
        if not found:
            missing.append(str(folder))
        files += len(found)
        overlap += [{"stage": "sources", "person": person, "source": str(p.relative_to(folder)), "faces": None}
                    for p in found if clip_sha256(p) == digest]
    checked = f"the {files} files of {', '.join(str(paths.sources_dir(data_dir, project, p)) for p in people)}"
    if missing:
        checked += f" ({', '.join(missing)} missing or empty: not checked)"
    return overlap, checked


def _run_config(run_dir) -> dict:
    path = Path(run_dir) / "config.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
