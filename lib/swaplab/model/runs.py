"""A training run on disk: what 03_train writes and 04_swap, 05_evaluate and 06_compare read.

A run lives in ``weights/<project>/<run>/`` (``paths.run_dir``):

    config.json            the TrainConfig, model name, image size, steps done (of both stages)
    checkpoint.weights.h5  model + optimizer state, to resume training (slim: 78 MB, two thirds of it Adam's
                           moments); checkpoint.previous.weights.h5 is the one before it. Never more than
                           these two: a save writes the new one under a temporary name, then moves the latest
                           to "previous" and the new one into place (renames, so a kill at any point leaves
                           a whole file), and a damaged latest falls back to the previous with one line
    export.weights.h5      the model's weights alone, float16 (``export``): 1/6 of the checkpoint, what
                           ``load`` (04_swap, 05_evaluate) reads; written with every checkpoint
    history.json           [{"step", "loss_a", "loss_b", "time_s", "lr"}, ...] every LOG_EVERY steps
    detail.weights.h5      the detail stage (``swaplab.model.detail``): both people's nets + optimizer, with its
                           detail.previous.weights.h5 and detail_export.weights.h5, as above
    detail_history.json    its losses, as history.json
    detail_bank_a.npz, detail_bank_b.npz
                           each person's exemplars (``swaplab.model.exemplars``: face-set crops at the detail size and
                           their landmarks): the detail stage draws with them, so copy them with the run; a run
                           without them swaps without exemplars, softer
    train_report.json      speed, final losses, warm-start savings
    previews/ loss.png     what ``viz.LivePlot`` draws (previews/ keeps the latest few and a doubling history)
    tensorboard/           what ``viz.TensorBoardLog`` logs

    provenance.json        what trained each stage (``swaplab.model.provenance``): per person, the face set's folder,
                           content hash and count, and each source file's name, SHA-256, faces and their time range
    fingerprints.npz       each source's faces as 16 px grey thumbnails with their times, for 05_evaluate's leak guard

Every file is written under a temporary name and renamed when complete (``files.atomic_path``), so a run
folder on a slow or mounted disk (Colab's Google Drive) never holds half a file where a whole one is
expected; TensorBoard's event files are the exception (append-only logs whose reader skips a cut-off record).
One save is one unit (``save``): its checkpoint, export, banks, history, provenance, fingerprints and config are
written whole under pending names (``.pending.<name>``), then ``save.json`` names them (the commit), then they are renamed into
place and save.json goes. A save cut short before its commit leaves pending files that nothing reads (the next
save removes them); one cut short after it is finished by the next save, and every reader meanwhile reads the
pending files save.json names (``path``), so the checkpoint, the export and the banks always come from one save.

``python -m swaplab.model.runs strip RUN_DIR`` removes the face crops a run holds (``strip``).

``train`` writes a run through ``start`` and ``save``; every other stage reads one through ``read_config``
and ``load`` (the autoencoder) or ``load_cascade`` (with its detail stage), which read the export when there
is one and the full checkpoint otherwise (runs saved before exports existed). Only the loaders import
TensorFlow or h5py (lazily), so reading a run's config or history stays cheap.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from swaplab.core.files import atomic_path, read_json, write_json

JOURNAL = "save.json"  # the files of a save, written once all of them are whole: the save's commit
PENDING = ".pending."  # the prefix of a save's files until save.json is written and they are renamed into place
PROVENANCE = "provenance.json"  # what trained each stage (swaplab.model.provenance)
BANK_FILE = "detail_bank_{side}.npz"  # each person's exemplars (swaplab.model.exemplars), beside the detail stage

CHECKPOINT = "checkpoint.weights.h5"
CONFIG = "config.json"
HISTORY = "history.json"
REPORT = "train_report.json"
DETAIL = "detail.weights.h5"  # the detail stage's nets and optimizer
DETAIL_HISTORY = "detail_history.json"
EXPORT = "export.weights.h5"  # the autoencoder's weights alone, mostly float16: what ``load`` reads
DETAIL_EXPORT = "detail_export.weights.h5"  # the detail stage's, likewise
TENSORBOARD = "tensorboard"  # the TensorBoard log (viz.TensorBoardLog), beside the checkpoint
# An export keeps float32 for variables of fewer values than this: the biases and the small RGB output convs,
# a fraction of a percent of the bytes, and the most sensitive (slim's output conv alone moved its faces by 0.04 of
# an 8-bit level as float16). With float16 for the rest, a trained slim run's faces move by at most 0.04 of a level
# (0.07 with every variable float16; benchmarks/export_precision.py): an 8-bit value changes only where it sat on a
# rounding edge (0.24 % of them), by one.
FLOAT32_BELOW = 4096

_DAMAGED: set[str] = set()  # latest checkpoints this process found damaged: ``save`` does not keep them as "previous"


def previous(name: str) -> str:
    """Where the checkpoint ``name`` goes when a newer one is saved: checkpoint.previous.weights.h5."""
    return name.removesuffix(".weights.h5") + ".previous.weights.h5"


def export_of(name: str) -> str:
    """The export written beside the checkpoint ``name``: EXPORT or DETAIL_EXPORT."""
    return DETAIL_EXPORT if name == DETAIL else EXPORT


def path(run_dir: str | Path, name: str) -> Path:
    """Where the run's file ``name`` is read from: its pending copy while a committed save (save.json names it) has
    not yet been renamed into place, else ``run_dir/name``. Pending files no save.json names are never read."""
    run_dir = Path(run_dir)
    pending = run_dir / (PENDING + name)
    if pending.exists() and name in (read_json(run_dir / JOURNAL, {}) or {}).get("files", []):
        return pending
    return run_dir / name


def has_checkpoint(run_dir: str | Path, name: str = CHECKPOINT) -> bool:
    """True when the run has a full checkpoint (the latest or the previous one), so training it again resumes."""
    return any(path(run_dir, n).exists() for n in (name, previous(name)))


def has_weights(run_dir: str | Path) -> bool:
    """True when the run has weights to draw with: a checkpoint, or only its export (``load`` reads either)."""
    return has_checkpoint(run_dir) or path(run_dir, EXPORT).exists()


def unsaved_work(run_dir: str | Path) -> list[str]:
    """The files a new run (or a new detail stage) would overwrite in ``run_dir``: an export, banks or a history
    without the checkpoint they came from (a copied export, a Drive folder not yet synced). Empty when none."""
    names = [EXPORT, DETAIL_EXPORT, HISTORY, DETAIL_HISTORY, PROVENANCE, *(BANK_FILE.format(side=s) for s in "ab")]
    if has_checkpoint(run_dir):  # the autoencoder resumes: only a detail stage without its checkpoint may be lost
        names = [] if has_detail(run_dir) else [DETAIL_EXPORT, DETAIL_HISTORY]
    return [n for n in names if path(run_dir, n).exists()]


def is_trained(run_dir: str | Path) -> bool:
    """True when the run has both its config and its weights."""
    return (Path(run_dir) / CONFIG).exists() and has_weights(run_dir)


def read_config(run_dir: str | Path) -> dict:
    """The config.json of a run: model, image_size, project, person_a/b, steps_done, ...

    Raises FileNotFoundError when the run has no checkpoint, ValueError naming the file when it is damaged.
    """
    file = path(run_dir, CONFIG)
    advice = f"restore it from a copy, or delete {run_dir} and train the run again with 03_train"
    try:
        config = read_json(file)
    except (OSError, ValueError) as e:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{file} is damaged ({str(e).splitlines()[0][:120]}): {advice}") from None
    if config is None or not has_weights(run_dir):
        raise FileNotFoundError(f"{run_dir} has no checkpoint: run 03_train first")
    if not isinstance(config, dict) or not {"model", "image_size"} <= config.keys():
        raise ValueError(f"{file} is damaged (no model or image_size in it): {advice}")
    return config


def read_history(run_dir: str | Path, up_to: int | None = None, stage: str = "") -> list[dict]:
    """The run's loss records (``[]`` if none yet), those after step ``up_to`` left out; ``stage="detail"``: the detail stage's."""
    history = read_json(path(run_dir, DETAIL_HISTORY if stage == "detail" else HISTORY), [])
    return history if up_to is None else [h for h in history if h["step"] <= up_to]


def has_detail(run_dir: str | Path) -> bool:
    """True when the run has saved a detail stage (so training it again resumes it, and 04_swap can use it)."""
    return has_checkpoint(run_dir, DETAIL)


def check_source(source_dir: Path, init_from: str, model: str, image_size: int) -> None:
    """Raise unless ``source_dir`` (INIT_FROM) holds a trained run of the same architecture."""
    if not is_trained(source_dir):
        raise FileNotFoundError(f"INIT_FROM={init_from!r}: {source_dir} holds no trained run: "
                                "train that run first with 03_train, or set INIT_FROM=None")
    source = read_config(source_dir)
    if (source["model"], source["image_size"]) != (model, image_size):
        raise ValueError(f"INIT_FROM={init_from!r} is a {source['model']!r} model at {source['image_size']} px; "
                         f"MODEL={model!r} cannot start from it: set MODEL={source['model']!r} or INIT_FROM=None")


def load_weights(model, run_dir: str | Path, what: str, file: str = CHECKPOINT) -> None:
    """Load a run's full checkpoint into ``model`` (a ``SwapModel``, or with ``file=DETAIL`` a ``DetailModel``),
    optimizer state included when the model has one built, refusing another architecture with a clear message.

    A damaged or missing latest checkpoint falls back to the previous one, saying so in one line (and the next
    ``save`` overwrites the damaged file instead of keeping it as "previous"). ``what`` names the parameter the
    run came from (``RUN='main'``, ``INIT_FROM='base'``) in every error.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if file == CHECKPOINT and (config["model"], config["image_size"]) != (model.model_name, model.image_size):
        raise ValueError(f"{what}: {run_dir} holds a {config['model']!r} model at {config['image_size']} px, "
                         f"not {model.model_name!r} at {model.image_size} px: set MODEL={config['model']!r} "
                         "or pick a run of the same architecture")
    latest, before = path(run_dir, file), run_dir / previous(file)
    try:
        _load_file(model, latest, what, file)
    except OSError as e:
        if not before.exists():
            raise
        _load_file(model, before, what, file)
        _DAMAGED.add(_key(latest))
        optimizer = getattr(model, "optimizer", None)
        step = f" (step {int(optimizer.iterations.numpy())})" if optimizer is not None and optimizer.built else ""
        print(f"{latest} {e.reason}: using the previous checkpoint, {before.name}{step}", flush=True)


def _load_file(model, path: Path, what: str, file: str) -> None:
    """``model.load_weights(path)`` with one-line errors: ValueError when the weights do not fit the model,
    OSError (``reason`` says what is wrong with the file, for a caller's own line) when it is missing or damaged."""
    stage = "the detail stage" if file == DETAIL else "it"
    try:
        if not path.exists():
            raise FileNotFoundError("a save was cut short")
        model.load_weights(path)
    except ValueError as e:  # shapes differ although config.json agrees: edited or foreign files
        raise ValueError(f"{what}: the weights in {path} do not fit this run's "
                         f"{'detail stage' if file == DETAIL else repr(model.model_name) + ' model'} ({e}); start a new RUN") from e
    except (OSError, KeyError) as e:  # h5py: not an HDF5 file, cut short, or unreadable; its own message names no file
        if isinstance(e, FileNotFoundError):
            reason, advice = "is missing (a save was cut short)", "restore it from a copy, or run 03_train with this RUN"
        else:
            reason, advice = f"is damaged ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})", \
                "restore it from a copy, or delete it and run 03_train with this RUN"
        error = OSError(f"{what}: {path} {reason.replace('is damaged', 'is damaged or not a checkpoint')}: {advice} "
                        f"to train {stage} again from step 0")
        error.reason = reason  # for a caller that falls back and says so in its own line
        raise error from None


def _key(path: Path) -> str:
    return os.path.abspath(path)


def _load_for_drawing(model, run_dir: Path, file: str) -> None:
    """Weights to draw with: the export when there is one (a damaged one falls back to the full checkpoint, with
    one line), else the full checkpoint (its optimizer state left unread: the model has none)."""
    what, export = f"RUN={run_dir.name!r}", path(run_dir, export_of(file))
    if export.exists() and _export_is_current(run_dir, export, file):
        try:
            return _load_file(model, export, what, file)
        except OSError as e:
            if not has_checkpoint(run_dir, file):
                raise
            print(f"{export} {e.reason}: loading the full checkpoint, {file}, instead", flush=True)
    load_weights(model, run_dir, what, file)


def export_step(export_file: str | Path) -> int | None:
    """The step an export was written at (its ``swaplab_step`` attribute), None for an export without one."""
    import h5py

    try:
        with h5py.File(export_file, "r") as f:
            step = f.attrs.get("swaplab_step")
    except OSError:
        return None
    return None if step is None else int(step)


def _export_is_current(run_dir: Path, export_file: Path, file: str) -> bool:
    """False, with one line, when the export is older than the checkpoint beside it (a save of a run from before save
    units was cut short between the two): the checkpoint is loaded instead."""
    if not has_checkpoint(run_dir, file):
        return True
    saved = read_config(run_dir).get("detail_steps_done" if file == DETAIL else "steps_done")
    step = export_step(export_file)
    if step is None or saved is None or step >= int(saved):
        return True
    print(f"{export_file} is from step {step}, older than the checkpoint's step {saved} (a save was cut short): "
          f"loading the checkpoint, {file}, instead", flush=True)
    return False


def export(checkpoint: str | Path, out: str | Path, step: int | None = None) -> Path:
    """Write the model's weights from ``checkpoint`` (a Keras .weights.h5) into ``out`` without the optimizer's
    state, float16 except variables of fewer than FLOAT32_BELOW values (and any float16 cannot hold), in Keras'
    own layout, so ``model.load_weights(out)`` reads it (widening to the model's float32). Atomic; returns ``out``.

    Read from the checkpoint file rather than the model, so the export holds exactly what was saved."""
    import h5py
    import numpy as np

    def copy(src, dst):
        dst.attrs.update(src.attrs)
        for name, item in src.items():
            if src.name == "/" and name == "optimizer":  # Adam's moments and step: 2/3 of a checkpoint
                continue
            if isinstance(item, h5py.Group):
                copy(item, dst.create_group(name))
                continue
            values = item[()]
            if values.dtype == np.float32 and values.size >= FLOAT32_BELOW:
                small = values.astype(np.float16)
                values = small if np.isfinite(small).all() else values
            dst.create_dataset(name, data=values).attrs.update(item.attrs)

    with h5py.File(checkpoint, "r") as src, atomic_path(out, suffix=".weights.h5") as tmp:
        with h5py.File(tmp, "w") as dst:
            copy(src, dst)
            if step is not None:
                dst.attrs["swaplab_step"] = step
    return Path(out)


def load(run, project: str | None = None):
    """The ``SwapModel`` of a finished (or interrupted) run, ready to swap; no optimizer.

    ``run``: a run folder, or a model object (returned as it is). ``project``: when
    given, the run's config must belong to it, so a run of another A/B pair is never
    used by mistake.
    """
    if hasattr(run, "swap") and hasattr(run, "image_size"):
        return run
    run_dir = Path(run)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run {run_dir} does not exist: train it with 03_train (same PROJECT and RUN) "
                                "or check WEIGHTS_DIR, PROJECT and RUN")
    config = read_config(run_dir)
    if project is not None and config.get("project") not in (None, project):
        raise ValueError(f"run {run_dir} was trained for project {config.get('project')!r}, not {project!r}: "
                         "use a RUN of this PROJECT (see weights/<PROJECT>/)")
    from swaplab.model.models import build_swap_model

    model = build_swap_model(config["model"], config["image_size"])
    _load_for_drawing(model, run_dir, CHECKPOINT)
    return model


def load_detail(run_dir: str | Path):
    """The run's ``DetailModel`` (both people's nets, no optimizer), or None when it has no detail stage."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if not (has_detail(run_dir) or (run_dir / DETAIL_EXPORT).exists()) or not config.get("detail_spec"):
        return None
    from swaplab.model.detail import DetailSpec, build_detail_model

    model = build_detail_model(DetailSpec(**config["detail_spec"]))
    _load_for_drawing(model, run_dir, DETAIL)
    return model


def load_cascade(run, project: str | None = None):
    """What 04_swap draws with: a ``detail.Cascade`` of the run's autoencoder and its detail stage (if it has one).

    ``run``: a run folder, a ``Cascade`` (returned as it is) or a ``SwapModel`` (wrapped, with no detail stage).
    """
    from swaplab.model.detail import Cascade

    if isinstance(run, Cascade):
        return run
    if hasattr(run, "swap") and hasattr(run, "image_size"):
        return Cascade(run)
    detail, banks = load_detail(run), load_banks(run)
    if detail is not None and read_config(run).get("stripped"):
        print(f"{run} was stripped of its exemplar banks (python -m swaplab.model.runs strip): its detail stage draws "
              "without exemplars, softer", flush=True)
    elif detail is not None:
        for side in sorted(set(read_config(run).get("detail_banks", [])) - set(banks)):
            print(f"{Path(run) / BANK_FILE.format(side=side)} is missing: person {side.upper()} is drawn without the "
                  "exemplars its detail stage was trained with, softer; copy the file along with the run", flush=True)
    return Cascade(load(run, project), detail, banks)


def start(out_dir: Path, config: dict) -> None:
    """Make a new run's folder and write its config (0 steps done)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / CONFIG, {**config, "steps_done": 0})


def save(out_dir: Path, model, config: dict, history: list[dict], stage: str = "", banks: dict | None = None,
         provenance: dict | None = None) -> None:
    """Save a checkpoint (model + optimizer), its export, the history, the config with its steps done and, when
    given, the exemplar ``banks`` ({side: ExemplarBank, or None to remove that side's}) and ``provenance`` ({stage:
    {person: ...}}, merged into provenance.json) as ONE unit: all of them are written whole under pending names,
    then save.json names them (the commit), then they are renamed into place (``finish``). A kill at any point leaves
    the run as the last committed save left it, or finishes this one on the next save. The checkpoint it replaces
    becomes the previous one, unless it holds the same step (saved again at the end of a session) or was found
    damaged: two whole checkpoints of different steps, never more.

    ``stage="detail"``: the detail stage (a ``DetailModel``) into ``detail.weights.h5`` and ``detail_history.json``;
    each stage's count (``steps_done``, ``detail_steps_done``) is kept when the other one saves.
    """
    from swaplab.model import provenance as prov

    finish(out_dir)
    detail = stage == "detail"
    name, key = (DETAIL if detail else CHECKPOINT), "detail_steps_done" if detail else "steps_done"
    before = read_json(out_dir / CONFIG, {}) or {}
    step = int(model.optimizer.iterations.numpy())
    pending = {n: out_dir / (PENDING + n) for n in (name, export_of(name), DETAIL_HISTORY if detail else HISTORY, CONFIG)}
    with atomic_path(pending[name], suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    export(pending[name], pending[export_of(name)], step)
    write_json(pending[DETAIL_HISTORY if detail else HISTORY], history)
    gone = []
    for side, bank in (banks or {}).items():
        file = BANK_FILE.format(side=side)
        if bank is None:
            gone.append(file)
        else:
            pending[file] = bank.subsample().save(out_dir / (PENDING + file))
    if provenance:
        pending.update(prov.write_pending(out_dir, PENDING, provenance))  # provenance.json and fingerprints.npz
    counts = {k: before[k] for k in ("steps_done", "detail_steps_done", "detail_banks") if k in before}
    counts[key] = step
    if detail:  # the exemplar banks this detail stage trains with, so a copy without them is told
        counts["detail_banks"] = [side for side in "ab" if BANK_FILE.format(side=side) in pending
                                  or ((out_dir / BANK_FILE.format(side=side)).exists() and BANK_FILE.format(side=side) not in gone)]
    write_json(pending[CONFIG], {**config, **counts})
    keep = (out_dir / name).exists() and before.get(key) != step and _key(out_dir / name) not in _DAMAGED
    write_json(out_dir / JOURNAL, {"step": step, "stage": stage or "autoencoder", "files": sorted(pending), "remove": gone,
                                   "previous": [name] if keep else []})
    finish(out_dir)
    _DAMAGED.discard(_key(out_dir / name))


def finish(run_dir: str | Path) -> None:
    """Complete a committed save (save.json): rename its pending files into place (the checkpoint it replaces
    becoming the previous one), remove what it removes, then save.json. Pending files of a save cut short before
    its commit are deleted. Safe to repeat at any point: each step checks what is already done."""
    run_dir = Path(run_dir)
    journal = read_json(run_dir / JOURNAL, None) or {}
    for name in journal.get("files", []):
        pending = run_dir / (PENDING + name)
        if not pending.exists():
            continue  # renamed already
        if name in journal.get("previous", []) and (run_dir / name).exists():
            os.replace(run_dir / name, run_dir / previous(name))  # the new one is whole: now the latest may go
        os.replace(pending, run_dir / name)
    for name in journal.get("remove", []):
        (run_dir / name).unlink(missing_ok=True)
    (run_dir / JOURNAL).unlink(missing_ok=True)
    for left in run_dir.glob(PENDING + "*") if run_dir.is_dir() else ():  # a save cut short before its commit
        left.unlink(missing_ok=True)


def read_provenance(run_dir: str | Path) -> dict:
    """The run's provenance.json (``swaplab.model.provenance``); an empty one for a run saved before it existed."""
    from swaplab.model import provenance

    found = read_json(path(run_dir, PROVENANCE), None)
    return found if isinstance(found, dict) and "stages" in found else provenance.empty()


def load_banks(run_dir: str | Path) -> dict:
    """{side: ExemplarBank} of a run (empty for a run saved without exemplars)."""
    from swaplab.model.exemplars import ExemplarBank

    files = {side: path(run_dir, BANK_FILE.format(side=side)) for side in "ab"}
    return {side: ExemplarBank.load(p) for side, p in files.items() if p.exists()}


def strip(run_dir: str | Path) -> str:
    """Remove the face crops a run holds: the detail stage's exemplar banks (up to ``exemplars.BANK_MAX`` crops per
    person, 2,000) and the preview grids and TensorBoard images (faces of the face sets); the export, the checkpoints
    and the histories stay. Returns the one line saying what the run can no longer do."""
    import shutil

    run_dir = Path(run_dir)
    config = read_config(run_dir)  # a folder that is no run is refused here
    finish(run_dir)
    if not path(run_dir, EXPORT).exists():
        raise FileNotFoundError(f"{run_dir} has no {EXPORT}: strip keeps the export, so it would leave nothing to swap "
                                "with; train the run on (03_train) until it saves one, then strip it")
    gone = [n for n in (BANK_FILE.format(side=s) for s in "ab") if (run_dir / n).exists()]
    for name in gone:
        (run_dir / name).unlink()
    for folder in ("previews", TENSORBOARD):  # their images are faces of the face sets
        if (run_dir / folder).is_dir():
            shutil.rmtree(run_dir / folder)
            gone.append(folder + "/")
    write_json(run_dir / CONFIG, {**config, "detail_banks": [], "stripped": True})
    lost = ("draw with its detail stage's exemplars (04_swap draws softer without them), nor resume its detail stage "
            "without the face sets (training it on makes the banks again from data/<project>/<person>/faces/)")
    return f"{run_dir}: removed {', '.join(gone) or 'no face crops (already stripped)'}; it keeps its export and can no longer {lost}"


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m swaplab.model.runs", description="Tools for a run folder.")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("strip", help="remove the face crops a run holds, keeping its export").add_argument("run_dir")
    args = ap.parse_args(argv)
    try:
        print(strip(args.run_dir))
    except (OSError, ValueError) as e:
        print(f"swaplab.model.runs strip: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
