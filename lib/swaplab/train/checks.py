"""TrainConfig's checks (``TrainConfig.validate`` calls ``check``): every field, the run folder and the face sets,
each bad value a one-line error naming the parameter and what to do; and the values derived from them."""

from __future__ import annotations

import math

from swaplab.core import paths
from swaplab.model import runs
from swaplab.model.models import MODELS

SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def check(config, faces: bool = True) -> None:
    """Check every field, then the run folder (resuming: STEPS not below the steps done; INIT_FROM: a trained run of
    the same MODEL; a run holding files but no checkpoint is not new) and, with ``faces``, that every face set exists."""
    check_names(config)
    check_numbers(config)
    check_detail(config)
    check_run(config)
    for person in config.people if faces else ():
        folder = paths.faces_dir(config.data_dir, config.project, person)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} does not exist: run 02_align for person {person!r} first")
    if faces and config.detail_size and config.detail_size > face_size(config):
        raise ValueError(f"DETAIL_SIZE={config.detail_size}: the face sets hold {face_size(config)} px faces: give "
                         f"DETAIL_SIZE <= {face_size(config)}, or run 02_align again with FACE_SIZE={config.detail_size}")


def face_size(config) -> int:
    """px of the smallest face-set crops among ``config.people`` (02_align's FACE_SIZE)."""
    from swaplab.face.faceset import FaceSet

    return min(FaceSet(paths.faces_dir(config.data_dir, config.project, p)).face_size for p in config.people)


def detail_spec(config):
    """The detail nets' shape (``detail.DetailSpec``): the one the run saved its detail stage with, so a run
    resumes and loads as it was trained whatever the defaults become; else the defaults' for DETAIL_SIZE."""
    from swaplab.model.detail import DetailSpec, spec_for

    if runs.has_detail(config.run_dir) and (saved := runs.read_config(config.run_dir).get("detail_spec")):
        return DetailSpec(**saved)
    return spec_for(config.model, config.image_size, config.detail_size)


def check_names(config) -> None:
    for what in ("project", "person_a", "person_b", "run"):
        paths.check_name(getattr(config, what), what.upper())
    if config.init_from is not None:
        paths.source_run_dir(config.weights_dir, config.project, config.init_from)  # checks both names
        if config.init_from in (config.run, f"{config.project}/{config.run}"):
            raise ValueError(f"INIT_FROM={config.init_from!r} is this RUN: give another run, or None")
    for person in config.pretrain_people:
        paths.check_name(person, "PRETRAIN_PEOPLE")
    if config.pretrain_people and len(config.pretrain_people) < 2:
        raise ValueError(f"PRETRAIN_PEOPLE={list(config.pretrain_people)}: pretraining is for many identities, give 2 or more")
    if config.person_a == config.person_b and not config.pretrain_people:
        raise ValueError(f"PERSON_A and PERSON_B are both {config.person_a!r}: a swap needs two people")
    if config.model not in MODELS:
        raise ValueError(f"MODEL={config.model!r} is unknown: choose one of {sorted(MODELS)}")
    for what in ("batch_size", "steps", "preview_every", "save_every", "log_every"):
        value = getattr(config, what)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{what.upper()}={value!r}: must be a whole number >= 1")


def check_numbers(config) -> None:
    if config.learning_rate is None:  # the model's own peak
        config.learning_rate = MODELS[config.model].learning_rate
    if not isinstance(config.learning_rate, (int, float)) or not config.learning_rate > 0:
        raise ValueError(f"LEARNING_RATE={config.learning_rate!r}: must be > 0, or None for the model's own "
                         f"({MODELS[config.model].learning_rate:g} for {config.model!r})")
    if config.lr_schedule not in SCHEDULES:
        raise ValueError(f"LR_SCHEDULE={config.lr_schedule!r}: choose one of {SCHEDULES}")
    if not isinstance(config.warmup_steps, int) or config.warmup_steps < 0:
        raise ValueError(f"WARMUP_STEPS={config.warmup_steps!r}: must be a whole number >= 0")
    if not config.clip_norm >= 0:
        raise ValueError(f"CLIP_NORM={config.clip_norm!r}: use 0 (off) or a norm > 0, e.g. 1.0")
    if config.precision not in PRECISIONS:
        raise ValueError(f"PRECISION={config.precision!r}: choose one of {PRECISIONS}")
    if not 0 <= config.ema_momentum < 1:
        raise ValueError(f"EMA_MOMENTUM={config.ema_momentum!r}: use 0 (off) or a momentum in (0, 1), e.g. 0.99")
    if not 0 <= config.expressions <= 4:
        raise ValueError(f"EXPRESSIONS={config.expressions!r}: give a share of each face set in [0, 4] to add with other "
                         "expressions (0.5: half as many again; 0: off)")
    if not 0 <= config.warp_end <= 1:
        raise ValueError(f"WARP_END={config.warp_end!r}: give a share of the starting warp in [0, 1] (1 = constant)")
    if not config.time_budget_min >= 0:
        raise ValueError(f"TIME_BUDGET_MIN={config.time_budget_min!r}: must be >= 0 (0 = no limit)")
    if not (isinstance(config.save_every_min, (int, float)) and 0 <= config.save_every_min < math.inf):
        raise ValueError(f"SAVE_EVERY_MIN={config.save_every_min!r}: give the minutes between checkpoints, e.g. 5, "
                         "or 0 to save every SAVE_EVERY steps only")


def check_detail(config) -> None:
    from swaplab.model import detail

    s = config.image_size
    if config.detail_size not in (None, 0, *(k * s for k in detail.SCALES)):
        raise ValueError(f"DETAIL_SIZE={config.detail_size!r}: use {' or '.join(str(k * s) for k in detail.SCALES)} "
                         f"(2x or 4x MODEL={config.model!r}'s {s} px), None to choose by the face sets, or 0 for none")
    if not (isinstance(config.detail_share, (int, float)) and 0 <= config.detail_share < 1):
        raise ValueError(f"DETAIL_SHARE={config.detail_share!r}: give the detail stage's share of TIME_BUDGET_MIN in [0, 1)")
    if config.detail_steps is None:  # the same share of the steps as of the time
        config.detail_steps = math.ceil(config.steps * config.detail_share / (1 - config.detail_share))
    elif not isinstance(config.detail_steps, int) or config.detail_steps < 0:
        raise ValueError(f"DETAIL_STEPS={config.detail_steps!r}: must be a whole number >= 0 (0: the detail stage trains "
                         "no steps), or None for a DETAIL_SHARE of STEPS")
    if config.detail_pairs not in detail.PAIRS:
        raise ValueError(f"DETAIL_PAIRS={config.detail_pairs!r}: choose one of {detail.PAIRS}")
    if not isinstance(config.detail_exemplars, bool):
        raise ValueError(f"DETAIL_EXEMPLARS={config.detail_exemplars!r}: must be True or False")


def check_run(config) -> None:
    detail = runs.has_checkpoint(config.run_dir)  # then only a detail stage without its checkpoint can be overwritten
    if (found := runs.unsaved_work(config.run_dir)) and not (detail and config.detail_size == 0):
        what = "a detail stage's" if detail else "a run's"
        how = ("set DETAIL_SIZE=0 to train its autoencoder only, or give a new RUN to start over" if detail else
               f"to train on from its weights, give a new RUN with INIT_FROM={config.run!r} (a warm start from its "
               "export), or give a new RUN to start over")
        raise ValueError(f"RUN={config.run!r}: {config.run_dir} holds {what} {', '.join(found)} but not the checkpoint they "
                         f"came from (copied without it, or a folder not yet synced?): 03_train writes nothing there; {how}")
    if runs.has_checkpoint(config.run_dir):
        saved = runs.read_config(config.run_dir)
        for what, done in (("STEPS", int(saved.get("steps_done", 0))), ("DETAIL_STEPS", int(saved.get("detail_steps_done", 0)))):
            if done > getattr(config, what.lower()):
                raise ValueError(f"{what}={getattr(config, what.lower())} is below the {done} steps RUN={config.run!r} has "
                                 f"already trained: set {what} above {done} to train on ({what} counts the resumed "
                                 "steps), or give a new RUN to start over")
        size = saved.get("detail_size")
        if runs.has_detail(config.run_dir) and config.detail_size is not None and config.detail_size != size:
            raise ValueError(f"DETAIL_SIZE={config.detail_size}: RUN={config.run!r} has a detail stage at {size} px: set "
                             f"DETAIL_SIZE={size} (or None) to resume it, or give a new RUN")
    elif config.init_from:
        runs.check_source(config.source_dir, config.init_from, config.model, config.image_size)
