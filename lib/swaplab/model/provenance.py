"""What trained a run: ``provenance.json`` in the run folder, written with every save (``runs.save``).

    {"version": 1,
     "stages": {"autoencoder" | "detail": {"<person>": {"faces_dir": str, "hash": str, "count": int,
                                                          "sources": [{"name": str, "sha256": str, "faces": int,
                                                                       "time": [first, last]}]}}}}

Per stage and person: the face set it loaded (``faces_dir``), the content hash of its kept faces (crop names,
landmarks and crop bytes: ``FaceSet.content_hash``) and their ``count``, and every source file under
``data/<project>/<person>/sources/`` that gave it faces, by name and SHA-256. A stage trained over several sessions
on a face set that changed keeps the sources of every session (``merged``): what ever trained it stays listed.
Each source's ``time`` is the time range of its kept faces in the source file (seconds: the first and the last face).
Faces given in memory (tests, benchmarks) record ``faces_dir`` "" and the hash of the arrays, with no sources.

Beside it, ``fingerprints.npz`` holds each source's face fingerprints (``swaplab.face.fingerprint``: a 16 px grey
thumbnail of every kept face, normalised, with its time), written in the same save unit (``write_pending``) and
merged as the sources are: ``names``, ``sha256`` (S,), ``counts`` (S,) faces each, ``times`` (N,) float32 and
``thumbs`` (N, 256) int8, the sources' faces one after another. 05_evaluate reads both (``swaplab.judge.provenance``)
to refuse scoring a clip the run trained on: by the file's hash, and by its faces (a cut, re-encoded).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

VERSION = 1
STAGES = ("autoencoder", "detail")
PROVENANCE = "provenance.json"
FINGERPRINTS = "fingerprints.npz"
_FINGERPRINTS: dict[tuple[str, str], dict] = {}  # (faces_dir, content hash) -> {source: (times, thumbs)}, this session


def empty() -> dict:
    """The provenance of a run saved before provenance existed."""
    return {"version": VERSION, "stages": {}}


def of_face_set(faces_dir: str | Path) -> dict:
    """One person's entry for the face set at ``faces_dir``, as it is now: with each source's time range; its faces'
    fingerprints are kept for the saves of this session (``write_pending``)."""
    from swaplab.face import fingerprint
    from swaplab.face.faceset import FaceSet

    fs = FaceSet(faces_dir)
    entry = fs.provenance()
    times: dict[str, list[float]] = {}
    for r in fs.kept():
        times.setdefault(r["source"], []).append(float(r.get("time", 0.0)))
    for src in entry["sources"]:
        src["time"] = [round(min(times[src["name"]]), 3), round(max(times[src["name"]]), 3)]
    key = (entry["faces_dir"], entry["hash"])
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = fingerprint.of_face_set(fs.dir)
    return entry


def of_arrays(images) -> dict:
    """One person's entry for faces given in memory: no folder, no sources; the hash of the arrays."""
    import numpy as np

    images = np.ascontiguousarray(images)
    return {"faces_dir": "", "hash": hashlib.sha256(images.tobytes()).hexdigest(), "count": int(len(images)), "sources": []}


def merged(old: dict | None, new: dict) -> dict:
    """``old`` provenance with the stages of ``new`` ({stage: {person: entry}}) put in: each person's latest face set,
    and the sources of the earlier ones kept beside the new ones (a source that trained a stage once stays listed)."""
    out = {"version": VERSION, "stages": {k: dict(v) for k, v in ((old or {}).get("stages") or {}).items()}}
    for stage, people in new.items():
        for person, entry in people.items():
            before = out["stages"].setdefault(stage, {}).get(person, {})
            seen = {(s["name"], s["sha256"]) for s in entry["sources"]}
            earlier = [s for s in before.get("sources", []) if (s["name"], s["sha256"]) not in seen]
            out["stages"][stage][person] = {**entry, "sources": entry["sources"] + earlier}
    return out


def change(person: str, before: dict, now: dict) -> str:
    """What changed between two entries of one person's face set, in words ("" when nothing did)."""
    if before["hash"] == now["hash"]:
        return ""
    old = {s["name"]: s for s in before["sources"]}
    new = {s["name"]: s for s in now["sources"]}
    parts = [f"{before['count']} -> {now['count']} faces"]
    if added := sorted(set(new) - set(old)):
        parts.append(f"sources added: {', '.join(added)}")
    if removed := sorted(set(old) - set(new)):
        parts.append(f"sources removed: {', '.join(removed)}")
    if edited := sorted(n for n in set(old) & set(new) if old[n]["sha256"] != new[n]["sha256"]):
        parts.append(f"sources changed: {', '.join(edited)}")
    if len(parts) == 1:
        parts.append("the same sources, aligned again (other crops or landmarks)")
    return f"person {person!r}'s face set {now['faces_dir'] or '(in memory)'} changed ({'; '.join(parts)})"


def write_pending(out_dir: Path, prefix: str, provenance: dict) -> dict[str, Path]:
    """Write ``provenance`` ({stage: {person: entry}}) merged into the run's provenance.json, and its sources'
    fingerprints merged into fingerprints.npz, as ``prefix`` + name (a save's pending files: ``runs.save``).
    Returns {name: path written}. Sources whose fingerprints this session did not make (faces in memory) get none."""
    from swaplab.core.files import read_json, write_json

    out = {PROVENANCE: write_json(out_dir / (prefix + PROVENANCE), merged(read_json(out_dir / PROVENANCE, None), provenance))}
    new = {}
    for people in provenance.values():
        for entry in people.values():
            prints = _FINGERPRINTS.get((entry["faces_dir"], entry["hash"]), {})
            new.update({(s["name"], s["sha256"]): prints[s["name"]] for s in entry["sources"] if s["name"] in prints})
    if new:
        try:
            old = read_fingerprints(out_dir / FINGERPRINTS) or {}
        except ValueError as e:
            print(f"{e}: written anew, without the sources of earlier sessions", flush=True)
            old = {}
        out[FINGERPRINTS] = _save_npz(out_dir / (prefix + FINGERPRINTS), {**old, **new})
    return out


def read_fingerprints(path: str | Path) -> dict | None:
    """{(source name, sha256): (times, thumbs)} of a run's fingerprints.npz at ``path`` (``runs.path(run,
    FINGERPRINTS)``); None when there is none (a run saved before fingerprints, or trained on faces in memory)."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            names, digests, counts = z["names"].tolist(), z["sha256"].tolist(), z["counts"]
            times, thumbs = z["times"], z["thumbs"]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{path} cannot be read ({(str(e).splitlines() or [type(e).__name__])[0][:80]}): delete it "
                         "(the leak guard then checks files by hash only); the run's next save writes it anew") from None
    ends = np.cumsum(counts)
    return {(n, d): (times[e - c:e], thumbs[e - c:e]) for n, d, c, e in zip(names, digests, counts, ends)}


def _save_npz(path: Path, prints: dict) -> Path:
    import numpy as np

    from swaplab.core.files import atomic_path

    keys = sorted(prints)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, names=np.array([k[0] for k in keys], dtype=str), sha256=np.array([k[1] for k in keys], dtype=str),
                 counts=np.array([len(prints[k][0]) for k in keys], np.int64),
                 times=np.concatenate([prints[k][0] for k in keys]).astype(np.float32),
                 thumbs=np.concatenate([prints[k][1] for k in keys]).astype(np.int8))
    return path
