"""A training run on disk: what 03_train writes and 04_swap, 05_evaluate and 06_compare read.

A run lives in ``weights/<project>/<run>/`` (``paths.run_dir``):

    config.json            the TrainConfig, model name, image size, steps done
    checkpoint.weights.h5  model + optimizer state, written atomically: a run killed
                           mid-save keeps the previous checkpoint
    history.json           [{"step", "loss_a", "loss_b", "time_s", "lr"}, ...] every LOG_EVERY steps
    train_report.json      speed, final losses, warm-start savings
    previews/ loss.png     what ``viz.LivePlot`` draws
    tensorboard/           what ``viz.TensorBoardLog`` logs

``train`` writes a run through ``start`` and ``save``; every other stage reads one
through ``read_config`` and ``load``. Only ``load`` and ``load_weights`` import
TensorFlow (lazily), so reading a run's config or history stays cheap.
"""

from __future__ import annotations

from pathlib import Path

from .files import atomic_path, read_json, write_json

CHECKPOINT = "checkpoint.weights.h5"
CONFIG = "config.json"
HISTORY = "history.json"
REPORT = "train_report.json"
TENSORBOARD = "tensorboard"  # the TensorBoard log (viz.TensorBoardLog), beside the checkpoint


def has_checkpoint(run_dir: str | Path) -> bool:
    """True when the run has saved weights (so training it again resumes)."""
    return (Path(run_dir) / CHECKPOINT).exists()


def is_trained(run_dir: str | Path) -> bool:
    """True when the run has both its config and its weights."""
    return (Path(run_dir) / CONFIG).exists() and has_checkpoint(run_dir)


def read_config(run_dir: str | Path) -> dict:
    """The config.json of a run: model, image_size, project, person_a/b, steps_done, ...

    Raises FileNotFoundError when the run has no checkpoint, ValueError naming the file when it is damaged.
    """
    path = Path(run_dir) / CONFIG
    advice = f"restore it from a copy, or delete {run_dir} and train the run again with 03_train"
    try:
        config = read_json(path)
    except (OSError, ValueError) as e:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path} is damaged ({str(e).splitlines()[0][:120]}): {advice}") from None
    if config is None or not has_checkpoint(run_dir):
        raise FileNotFoundError(f"{run_dir} has no checkpoint: run 03_train first")
    if not isinstance(config, dict) or not {"model", "image_size"} <= config.keys():
        raise ValueError(f"{path} is damaged (no model or image_size in it): {advice}")
    return config


def read_history(run_dir: str | Path, up_to: int | None = None) -> list[dict]:
    """The run's loss records (``[]`` if none yet), those after step ``up_to`` left out."""
    history = read_json(Path(run_dir) / HISTORY, [])
    return history if up_to is None else [h for h in history if h["step"] <= up_to]


def check_source(source_dir: Path, init_from: str, model: str, image_size: int) -> None:
    """Raise unless ``source_dir`` (INIT_FROM) holds a trained run of the same architecture."""
    if not is_trained(source_dir):
        raise FileNotFoundError(f"INIT_FROM={init_from!r}: {source_dir} holds no trained run: "
                                "train that run first with 03_train, or set INIT_FROM=None")
    source = read_config(source_dir)
    if (source["model"], source["image_size"]) != (model, image_size):
        raise ValueError(f"INIT_FROM={init_from!r} is a {source['model']!r} model at {source['image_size']} px; "
                         f"MODEL={model!r} cannot start from it: set MODEL={source['model']!r} or INIT_FROM=None")


def load_weights(model, run_dir: str | Path, what: str) -> None:
    """Load a run's checkpoint into ``model`` (a ``SwapModel``), refusing another architecture with a clear message.

    ``what`` names the parameter the run came from (``RUN='main'``, ``INIT_FROM='base'``) in every error.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if (config["model"], config["image_size"]) != (model.model_name, model.image_size):
        raise ValueError(f"{what}: {run_dir} holds a {config['model']!r} model at {config['image_size']} px, "
                         f"not {model.model_name!r} at {model.image_size} px: set MODEL={config['model']!r} "
                         "or pick a run of the same architecture")
    try:
        model.load_weights(run_dir / CHECKPOINT)
    except ValueError as e:  # shapes differ although config.json agrees: edited or foreign files
        raise ValueError(f"{what}: the weights in {run_dir / CHECKPOINT} do not fit a {model.model_name!r} "
                         f"model ({e}); start a new RUN") from e
    except (OSError, KeyError) as e:  # h5py: not an HDF5 file, cut short, or unreadable; its own message names no file
        raise OSError(f"{what}: {run_dir / CHECKPOINT} is damaged or not a checkpoint "
                      f"({str(e).splitlines()[0][:120]}): restore it from a copy, or delete it and run 03_train "
                      "with this RUN to train it again from step 0") from None


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
    from .models import build_swap_model

    model = build_swap_model(config["model"], config["image_size"])
    load_weights(model, run_dir, f"RUN={run_dir.name!r}")  # the layers only: the optimizer state in the file is left unread
    return model


def start(out_dir: Path, config: dict) -> None:
    """Make a new run's folder and write its config (0 steps done)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / CONFIG, {**config, "steps_done": 0})


def save(out_dir: Path, model, config: dict, history: list[dict]) -> None:
    """Save a checkpoint (model + optimizer) atomically, then the history and the config with its steps done."""
    with atomic_path(out_dir / CHECKPOINT, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    write_json(out_dir / HISTORY, history)
    write_json(out_dir / CONFIG, {**config, "steps_done": int(model.optimizer.iterations.numpy())})
