"""Building a person's face set (02_align): aligned crops plus ONE index table, and the filters that decide what
training sees. The face set's reader (``FaceSet``, ``load_training_arrays``) is ``swaplab.face.faceset``.

On disk, ``data/<project>/<person>/faces/``:
  crops/<source>_<frame:06d>_<face>.jpg  every detected face, aligned, FACE_SIZE px, RGB JPEG q95
  index.jsonl     one JSON object per detected face, kept or dropped (see ``_row``)
  summary.json    counts per reason and per source, frames read, frames without a face, settings
  embeddings.npz  dlib descriptors of the faces that were embedded, by crop name

Its settings are one ``AlignConfig`` (``swaplab.align.config``): 02_align fills it from its parameters
and checks them with ``validate()``; ``align_person`` takes it, or builds it
from keywords. It decides what to read (``_plan``), then works in two steps:
  1. ``_read_sources``, per source (``swaplab.align.extract``), in a worker process (spawned; in this
     process when there is one worker): decode -> MediaPipe landmarks (video
     mode, up to ``max_faces`` faces) -> align -> write the crop -> measure it
     (size, blur, brightness) and embed a sample of faces with dlib (see
     ``identity_every``);
  2. ``_identify_and_save``, in the parent, over all sources: the reference
     identity (``reference`` photo, else the dominant identity of all
     embeddings), then the filters (``swaplab.align.filters``), then the index and
     summary, written atomically.
Step 2 is cheap and re-runs every time, so changed thresholds apply to all
faces; step 1 is skipped for sources the summary already lists.

Nothing that exists is lost on a failure. A new face set, or one whose
``READ_SETTINGS`` changed (FACE_SIZE, SAMPLE_FPS, MAX_FACES and identity_every:
they change what step 1 reads, writes and embeds), is built beside the old one
in ``faces.new/`` and renamed into place only when complete; a run that fails
or is killed leaves ``faces/`` as it was (``_undo``), and the next run removes
``faces.new/``. New sources are added in place: their crops first, then the
index and summary (atomic renames). An index line that cannot be read is an
error naming the file and line; ``align_person`` repairs it (drops the line
and reads that source again).
Whatever ``align_person`` repairs or reads again before its real work (what a
stopped run left, a damaged index line or summary, changed READ_SETTINGS, a
source that could not be read last time) it prints as one plain line each, so a
headless run's output (papermill) says why it took longer than a rerun should.
A run that finds no face at all raises ``FaceSetError`` saying why.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swaplab.align.config import READ_SETTINGS, REASONS, AlignConfig
from swaplab.align.extract import _process_source
from swaplab.align.filters import apply_filters, assign_identity, reference_embedding
from swaplab.core.files import atomic_path, write_json
from swaplab.face.faceset import FaceSet, FaceSetError, _nothing_found, find_sources

__all__ = ["AlignConfig", "FaceSet", "FaceSetError", "align_person", "read_changes"]

_WRITE_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def align_person(data_dir: str | Path | AlignConfig, project: str = "", person: str = "", *,
                 progress: bool | None = None, **settings) -> FaceSet:
    """Build or update ``data/<project>/<person>/faces/`` from ``sources/``; returns the FaceSet.

    Takes an ``AlignConfig`` (``align_person(CONFIG)``, as 02_align does), or
    ``data_dir, project, person`` and any other ``AlignConfig`` field as keywords,
    with ``progress`` for ``interactive`` (progress bars; on by default). The
    config is validated first. Sources already listed in summary.json are not
    read again (delete faces/ to start over). A change of a ``READ_SETTINGS``
    value reads every source again into ``faces.new/``, which replaces ``faces/``
    only once complete. ``workers``: processes for new sources, default
    min(cpu_count, new sources). Raises ``FaceSetError`` when no face was found
    at all (every source unreadable or faceless) or the face set cannot be
    written; ``faces/`` is then as it was.
    """
    if isinstance(data_dir, AlignConfig):
        if project or person or settings or progress is not None:
            raise TypeError("align_person(config) takes nothing else: set those fields on the config")
        config = data_dir
    else:
        config = AlignConfig(data_dir=data_dir, project=project, person=person,
                             interactive=True if progress is None else progress, **settings)
    config.validate()
    sources = find_sources(config.sources_dir)
    if not sources:
        raise FileNotFoundError(f"{config.sources_dir} is empty: run 01_collect for person {config.person} first")
    job = _plan(config, sources)
    try:
        workers = _read_sources(job, config)
        _identify_and_save(job, config, workers)
        if job.rebuild:
            _swap_in(job.build, job.out)
    except BaseException as e:
        failed = _undo(job, e, config.person)
        if failed is not None:
            raise failed from e
        raise
    return FaceSet(job.out)


@dataclass
class _Job:
    """One run of ``align_person``: where it builds, what it reads, and what it keeps of the old face set."""

    out: Path  # faces/
    old: FaceSet  # what faces/ held before the run (bad index lines dropped)
    rebuild: bool  # a new face set, or changed READ_SETTINGS: build in faces.new/, swap it in when complete
    todo: dict[str, Path]  # the sources step 1 reads
    rows: list[dict]  # index rows: those kept from the old set, then the new ones
    vectors: dict[str, np.ndarray]  # embeddings by crop name, likewise
    per_source: dict[str, dict]  # summary.json's "sources", likewise

    @property
    def build(self) -> Path:
        """Where this run writes: faces.new/ for a rebuild, else faces/ itself (new sources are added in place)."""
        return self.out.with_name(self.out.name + ".new") if self.rebuild else self.out


def _plan(config: AlignConfig, sources: dict[str, Path]) -> _Job:
    """Clean up after a killed run, read the old face set, and decide what to read: every source, or the new ones."""
    out = config.faces_dir
    _recover(out)
    old = FaceSet(out, must_exist=False, repair=True)
    changed = read_changes(old.summary, config)
    if not old.summary or changed:  # a new face set, or one whose crops/landmarks no longer fit
        job = _Job(out, old, True, dict(sources), [], {}, {})
        why = ", ".join(changed) or (old.summary_damage and f"{out / 'summary.json'} was damaged ({old.summary_damage})")
        if why:
            print(f"{why}: reading every source of {config.person} again into {job.build}; "
                  f"{out} stays as it is until that is done")
        return job
    damaged = old.damaged_sources()  # their index lines could not be read: read them again
    per_source = {n: s for n, s in old.summary.get("sources", {}).items() if n not in damaged}
    todo = {n: p for n, p in sources.items() if n not in per_source or "error" in per_source[n]}
    _say_repairs(old, per_source, todo)
    rows = [r for r in old.rows if r["source"] not in todo]  # a source read again replaces its rows
    kept_files = {Path(r["file"]).stem for r in rows}
    vectors = {k: v for k, v in old.embeddings().items() if k in kept_files}
    return _Job(out, old, False, todo, rows, vectors, per_source)


def _say_repairs(old: FaceSet, per_source: dict, todo: dict) -> None:
    """One printed line per damaged index line dropped, and per source read again because it failed last time."""
    for n, names in old.damaged_lines():
        again = [name for name in names if name in todo]
        what = f"reading source{'s' * (len(again) > 1)} {', '.join(again)} again" if again else "no source to read again"
        print(f"{old.dir / 'index.jsonl'} line {n} was damaged: dropped it and {what}")
    for name, s in per_source.items():
        if name in todo:  # listed with an error: it could not be read last time
            print(f"source {name} of {old.person} could not be read last time ({' '.join(str(s['error']).split())[:120]}): "
                  "reading it again")


def _read_sources(job: _Job, config: AlignConfig) -> int:
    """Step 1: read ``job.todo`` into ``job.build`` and add to the job's rows, vectors and per_source.

    Returns the number of worker processes (recorded in summary.json).
    """
    from tqdm.auto import tqdm

    workers = max(1, min(config.workers or os.cpu_count() or 1, len(job.todo) or 1))
    if not job.todo:
        return workers
    results = _run(job.todo, str(job.build), config, workers)
    try:
        for res in tqdm(results, total=len(job.todo), desc=f"sources of {config.person}", unit="source",
                        disable=not config.interactive):
            job.rows += res.pop("rows")
            job.vectors.update(zip(res.pop("names"), res.pop("vectors")))
            job.per_source[res.pop("name")] = res
    finally:
        results.close()  # waits for running workers, so nothing writes into ``build`` after this
    return workers


def _identify_and_save(job: _Job, config: AlignConfig, workers: int) -> None:
    """Step 2: the reference identity, the filters, then index, embeddings and summary into ``job.build``."""
    rows, vectors = job.rows, job.vectors
    if not rows:
        raise FaceSetError(_nothing_found(config.person, config.sources_dir, job.per_source))
    rows.sort(key=lambda r: (r["source"], r["frame"], r["face"]))
    ref_kind, share = "none", None
    if vectors and config.identity_every > 0:
        from swaplab.face import identity

        if config.reference:
            ref, ref_kind = reference_embedding(config.reference), f"photo {config.reference}"
        else:
            (ref, share), ref_kind = identity.dominant(np.stack(list(vectors.values()))), "dominant identity"
        assign_identity(rows, vectors, ref)
    apply_filters(rows, config)
    _save(job.build, rows, vectors, _summary(rows, job.per_source, config, ref_kind, share, workers))


def _undo(job: _Job, error: BaseException, person: str) -> FaceSetError | None:
    """Remove what a failed run wrote, so ``faces/`` is as it was; for a failed write, the error to raise instead."""
    if job.rebuild:
        shutil.rmtree(job.build, ignore_errors=True)
    else:  # crops the new sources got before the failure: the index (unchanged) does not list them
        old = job.old.rows
        _remove_crops(job.out, set(job.todo) - {r["source"] for r in old}, keep={r["file"] for r in old})
    if not (isinstance(error, OSError) and error.errno in _WRITE_ERRORS):
        return None
    where = f" writing {error.filename}" if error.filename else ""
    out = job.out
    kept = (f"{out} is kept as it was" if job.old.summary else f"{out} was not created") if job.rebuild else \
        f"{out} is kept as it was (the new sources were not added)"
    return FaceSetError(f"02_align could not write the face set of person {person} ({error.strerror or error}{where}); "
                        f"{kept}: free disk space (or make it writable) and run 02_align again")


def read_changes(summary: dict, config: AlignConfig) -> list[str]:
    """The ``READ_SETTINGS`` of ``config`` that differ from those a face set was made with, as "FACE_SIZE 256 -> 128"."""
    if not summary:
        return []
    made = {"face_size": summary.get("face_size"), **summary.get("settings", {})}
    now = config.settings()
    return [f"{k.upper()} {made[k] or 0} -> {now[k] or 0}" for k in READ_SETTINGS
            if k in made and (made[k] or None) != (now[k] or None)]


def _recover(out: Path) -> None:
    """Finish or undo what a killed run left beside ``out`` (a swap-in cut between its two renames, a partial
    build), printing one line for each thing it does."""
    new, old = out.with_name(out.name + ".new"), out.with_name(out.name + ".old")
    if old.exists() and not out.exists():  # killed between the renames of ``_swap_in``: new is complete
        done = new if (new / "summary.json").exists() else old
        os.replace(done, out)
        print(f"{out} was missing (a run was stopped while putting a new face set in place): "
              f"{'finished it' if done == new else 'put the old one back'} ({done.name} -> {out.name})")
    for left, what in ((old, "the face set it replaced"), (new, "a face set it had not finished")):
        if left.exists():
            shutil.rmtree(left, ignore_errors=True)
            print(f"{left} was left by a stopped run ({what}): removed it")


def _swap_in(build: Path, out: Path) -> None:
    """Put the complete face set ``build`` at ``out`` with two renames, then delete the old one."""
    old = out.with_name(out.name + ".old")
    if out.exists():
        os.replace(out, old)
    os.replace(build, out)
    shutil.rmtree(old, ignore_errors=True)


def _remove_crops(out: Path, sources: set[str], keep: set[str]) -> None:
    """Delete the crops of ``sources`` in ``out/crops`` that the index does not list (``keep``: "crops/x.jpg")."""
    if not sources or not (out / "crops").is_dir():
        return
    pattern = re.compile(r"^(.+)_\d{6}_\d+\.jpg$")
    for p in (out / "crops").iterdir():
        m = pattern.match(p.name)
        if m and m.group(1) in sources and f"crops/{p.name}" not in keep:
            p.unlink(missing_ok=True)



def _run(todo: dict[str, Path], out: str, config: AlignConfig, workers: int):
    """Results of ``_process_source`` for each source: in this process for one worker, else in spawned ones.

    Spawn, not fork: MediaPipe and dlib hold threads and native state that a
    forked child must not inherit.
    """
    if workers == 1:
        yield from (_process_source(n, str(p), out, config) for n, p in todo.items())
        return
    import multiprocessing as mp

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        jobs = [pool.submit(_process_source, n, str(p), out, config) for n, p in todo.items()]
        try:
            yield from (job.result() for job in jobs)
        finally:  # on an error or close(): no new source starts; leaving ``with`` waits for the running ones
            for job in jobs:
                job.cancel()


def _summary(rows: list[dict], per_source: dict, config: AlignConfig, ref_kind: str, share, workers: int) -> dict:
    def counts(rs):
        dropped = {w: sum(r["why"] == w for r in rs) for w in REASONS}
        return {"faces": len(rs), "kept": sum(r["kept"] for r in rs), "dropped": dropped}

    for name, s in per_source.items():
        s.update(counts([r for r in rows if r["source"] == name]))

    def total(key):
        return sum(s.get(key, 0) for s in per_source.values())

    return {
        "face_size": config.face_size, **counts(rows),
        "frames_read": total("frames_read"), "frames_without_face": total("frames_without_face"),
        "decode_errors": total("decode_errors"),
        "no_face_sources": sorted(n for n, s in per_source.items() if s["faces"] == 0 and "error" not in s),
        "errors": {n: s["error"] for n, s in per_source.items() if "error" in s},
        "identity_reference": ref_kind, "dominant_share": None if share is None else round(share, 3),
        "embedded": sum(r["embedded"] for r in rows), "workers": workers,
        "settings": config.settings(), "sources": per_source,
    }


def _save(out: Path, rows: list[dict], vectors: dict, summary: dict) -> None:
    """index.jsonl, embeddings.npz, then summary.json (last: it marks the sources as done), each atomic."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "index.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
    with atomic_path(out / "embeddings.npz") as tmp:
        names = sorted(vectors)
        vec = np.stack([vectors[n] for n in names]) if names else np.zeros((0, 128), np.float32)
        np.savez(tmp, names=np.array(names, dtype=str), vectors=vec.astype(np.float32))
    write_json(out / "summary.json", summary)
