"""What trained a run: ``provenance.json`` in the run folder, written with every save (``runs.save``).

    {"version": 1,
     "stages": {"autoencoder" | "detail": {"<person>": {"faces_dir": str, "hash": str, "count": int,
                                                          "sources": [{"name": str, "sha256": str, "faces": int}]}}}}

Per stage and person: the face set it loaded (``faces_dir``), the content hash of its kept faces (crop names,
landmarks and crop bytes: ``FaceSet.content_hash``) and their ``count``, and every source file under
``data/<project>/<person>/sources/`` that gave it faces, by name and SHA-256. A stage trained over several sessions
on a face set that changed keeps the sources of every session (``merged``): what ever trained it stays listed.
Faces given in memory (tests, benchmarks) record ``faces_dir`` "" and the hash of the arrays, with no sources.
05_evaluate reads it (``runs.read_provenance``) to refuse scoring a clip the run trained on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

VERSION = 1
STAGES = ("autoencoder", "detail")


def empty() -> dict:
    """The provenance of a run saved before provenance existed."""
    return {"version": VERSION, "stages": {}}


def of_face_set(faces_dir: str | Path) -> dict:
    """One person's entry for the face set at ``faces_dir``, as it is now."""
    from swaplab.face.faceset import FaceSet

    return FaceSet(faces_dir).provenance()


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
