"""Training: the shared encoder and the two decoders learn to rebuild warped faces (03_train).

Read this file top to bottom; it is the whole training loop, in the spirit of nanoGPT's
``train.py``:

  ``TrainConfig``        every knob of a run, checked by ``validate()`` before any slow work
  data                 ``load_training_data`` reads both face sets into memory; ``make_dataset``
                       shuffles, batches and warps them in the tf.data graph (``augment.augment_batch``)
  the schedule         ``learning_rate_at`` and ``warp_at``, functions of the run's progress
  the loop             ``train`` -> ``_train``: build or restore the model, ``model.fit`` with the
                       hooks below, write the report
  the step             ``SwapModel.train_step`` (models.py, as in keras-io's examples): encoder +
                       both decoders on a warped batch of A and of B, one Adam step on the sum of
                       the two face losses (``losses.make_face_loss``)
  the hooks            ``_Schedule`` sets the learning rate and warp before each step;
                       ``_RunCallback`` stops at STEPS or TIME_BUDGET_MIN, logs the history,
                       prints progress and checkpoints (``runs.save``, atomic) every SAVE_EVERY
                       steps and every SAVE_EVERY_MIN minutes; ``viz.LivePlot`` draws previews and
                       the loss every PREVIEW_EVERY steps; ``viz.TensorBoardLog`` logs the same for
                       TensorBoard
  stopping             Ctrl-C (Jupyter's "Interrupt kernel") or SIGTERM while ``train`` runs: the
                       stage that was training is saved at the step it reached and ``Interrupted``
                       says in one line where the run stands and how to go on (``_interrupted``;
                       the signal handling is ``swaplab.train.stopping``)

A run lives in ``weights/<project>/<run>/`` (``swaplab.model.runs`` has the layout). Running
``train`` again on the same run resumes: the optimizer (with its step count) comes back
from the checkpoint, and the input pipeline starts at that step. ``init_from`` starts a
new run from another run's weights with a fresh optimizer: the shared encoder already
knows faces, so a new pair reaches a given quality in far fewer steps. ``pretrain_people`` makes such a base run: both decoders
learn a pool of many identities (DeepFaceLab's pretraining), and any later pair starts
from it with ``init_from="<project>/<run>"``.

The schedule is a function of the run's progress (the larger of step / STEPS and
training time / TIME_BUDGET_MIN, so a time-boxed run decays on time): the learning
rate warms up linearly over ``warmup_steps`` and, with ``lr_schedule="cosine"``,
decays to ``LR_FLOOR`` of its peak at the end; the warp's strength falls linearly to
``warp_end`` of its start. The recipe's defaults were chosen by
``benchmarks/quality_curve.py`` at equal CPU minutes (docs/ablation.md).

Hardware (``swaplab.train.distribute``): the CPU's default strategy in mixed_bfloat16 where it
has bf16 units, else float32; one GPU in mixed_float16 with XLA; several GPUs mirrored;
several workers named by ``TF_CONFIG`` (``python -m swaplab.train.worker``). BATCH_SIZE is
global: split over all replicas of all workers.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from swaplab.core import files, paths
from swaplab.core.files import write_json
from swaplab.core.params import Parameters
from swaplab.model import exemplars, runs
from swaplab.model.losses import make_face_loss
from swaplab.model.models import DEFAULT_CPU_MODEL, MODELS, build_swap_model, flops_per_face
from swaplab.train import distribute, stopping
from swaplab.train.augment import AugmentConfig, augment_batch
from swaplab.train.stopping import Interrupted

SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
LR_FLOOR = 0.1  # the cosine schedule ends at this share of LEARNING_RATE


# ---------------------------------------------------------------- the config


@dataclass
class TrainConfig(Parameters):
    """Everything a run needs; 03_train's parameters map onto these fields (``from_parameters``)."""

    project: str  # the A/B experiment: data/<project>/ and weights/<project>/
    person_a: str = "a"  # folder of person A under data/<project>/
    person_b: str = "b"  # folder of person B
    run: str = "main"  # this run's folder under weights/<project>/; rerunning it resumes
    model: str = DEFAULT_CPU_MODEL  # architecture, a key of swaplab.model.models.MODELS
    batch_size: int = 16  # faces per person per step (global: split over GPUs)
    steps: int = 2000  # stop after this many steps in total (counting resumed ones)
    time_budget_min: float = 0.0  # also stop after this many training minutes of the run in all (both stages, every session); 0 = no limit
    learning_rate: float | None = None  # Adam step size at the schedule's peak; None = the model's own (MODELS[model].learning_rate)
    lr_schedule: str = "cosine"  # "constant", or "cosine": decay to LR_FLOOR of the peak at the run's end
    warmup_steps: int = 100  # steps of linear learning-rate warm-up (both schedules); 0 = none
    warp_end: float = 0.25  # warp strength at the run's end, as a share of the start (linear in between); 1 = constant
    precision: str = "auto"  # "auto": mixed_float16 on a GPU, mixed_bfloat16 on a CPU with bf16 units (AMX/AVX512-BF16), else float32
    ema_momentum: float = 0.0  # > 0: keep an exponential moving average of the weights (e.g. 0.99) and save it for inference
    clip_norm: float = 1.0  # clip the global gradient norm to this (typical norms are 0.1-0.8; spikes diverged runs); 0 = off
    init_from: str | None = None  # warm start from weights/<project>/<init_from>/ or "other_project/run" (fresh optimizer)
    pretrain_people: tuple[str, ...] = ()  # pretrain mode: both decoders learn these people's faces pooled (a base run)
    preview_every: int = 100  # steps between preview grids and loss plots
    save_every: int = 500  # steps between checkpoints (also saved at the end)
    save_every_min: float = 5.0  # also a checkpoint after this many minutes since the last (0: by steps only): a kill costs at most this
    log_every: int = 10  # steps between history.json records
    data_dir: str = "data"  # root of the face sets
    weights_dir: str = "weights"  # root of the runs
    seed: int = 0  # weights init, shuffling and augmentation
    interactive: bool = False  # Jupyter display (in-place plots, progress bar) vs printed lines + PNGs
    mae_weight: float = 1.0  # loss = mae_weight * masked MAE ...
    dssim_weight: float = 1.0  # ... + dssim_weight * DSSIM on the face hull
    eyes_mouth_weight: float = 2.0  # eyes and mouth count 1 + this in the MAE
    edge_weight: float = 1.0  # ... + edge_weight * L1 of image gradients (against blur; losses.masked_edges)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # warp and jitter strengths
    # the detail stage (swaplab.model.detail): after the autoencoder, each person's net learns to draw their face at
    # detail_size from the decoder's face, from their own face set at full size
    detail_size: int | None = None  # px: 2x or 4x the model's size; None = 4x (or 2x) as far as the face sets hold; 0 = off
    detail_share: float = 0.25  # share of TIME_BUDGET_MIN for the detail stage (all of it once the autoencoder is done)
    detail_steps: int | None = None  # the detail stage's steps in total, counting resumed ones; None: STEPS x DETAIL_SHARE / (1 - DETAIL_SHARE)
    detail_pairs: str = "reconstructions"  # its inputs: the decoder's "reconstructions" of the faces, "degraded" faces, or "both"
    detail_exemplars: bool = True  # give it the fine detail of the person's own crops nearest in expression (kept in the run)

    def __post_init__(self):
        self.pretrain_people = tuple(self.pretrain_people or ())  # a notebook gives a list

    def validate(self, faces: bool = True) -> "TrainConfig":
        """Check every field, then the run folder (resuming: STEPS not below the steps done; INIT_FROM: a
        trained run of the same MODEL) and, with ``faces``, that every face set exists; returns self.

        ``train`` calls it too, with ``faces=False`` when it is given the faces in memory.
        """
        self._check_names()
        self._check_numbers()
        self._check_run()
        for person in self.people if faces else ():
            folder = paths.faces_dir(self.data_dir, self.project, person)
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} does not exist: run 02_align for person {person!r} first")
        if faces and self.detail_size and self.detail_size > self.face_size():
            raise ValueError(f"DETAIL_SIZE={self.detail_size}: the face sets hold {self.face_size()} px faces: give "
                             f"DETAIL_SIZE <= {self.face_size()}, or run 02_align again with FACE_SIZE={self.detail_size}")
        return self

    def face_size(self) -> int:
        """px of the smallest face-set crops among ``people`` (02_align's FACE_SIZE)."""
        from swaplab.face.faceset import FaceSet

        return min(FaceSet(paths.faces_dir(self.data_dir, self.project, p)).face_size for p in self.people)

    def _check_names(self) -> None:
        for what in ("project", "person_a", "person_b", "run"):
            paths.check_name(getattr(self, what), what.upper())
        if self.init_from is not None:
            paths.source_run_dir(self.weights_dir, self.project, self.init_from)  # checks both names
            if self.init_from in (self.run, f"{self.project}/{self.run}"):
                raise ValueError(f"INIT_FROM={self.init_from!r} is this RUN: give another run, or None")
        for person in self.pretrain_people:
            paths.check_name(person, "PRETRAIN_PEOPLE")
        if self.pretrain_people and len(self.pretrain_people) < 2:
            raise ValueError(f"PRETRAIN_PEOPLE={list(self.pretrain_people)}: pretraining is for many identities, give 2 or more")
        if self.person_a == self.person_b and not self.pretrain_people:
            raise ValueError(f"PERSON_A and PERSON_B are both {self.person_a!r}: a swap needs two people")
        if self.model not in MODELS:
            raise ValueError(f"MODEL={self.model!r} is unknown: choose one of {sorted(MODELS)}")
        for what in ("batch_size", "steps", "preview_every", "save_every", "log_every"):
            value = getattr(self, what)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{what.upper()}={value!r}: must be a whole number >= 1")

    def _check_numbers(self) -> None:
        if self.learning_rate is None:  # the model's own peak
            self.learning_rate = MODELS[self.model].learning_rate
        if not isinstance(self.learning_rate, (int, float)) or not self.learning_rate > 0:
            raise ValueError(f"LEARNING_RATE={self.learning_rate!r}: must be > 0, or None for the model's own "
                             f"({MODELS[self.model].learning_rate:g} for {self.model!r})")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"LR_SCHEDULE={self.lr_schedule!r}: choose one of {SCHEDULES}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"WARMUP_STEPS={self.warmup_steps!r}: must be a whole number >= 0")
        if not self.clip_norm >= 0:
            raise ValueError(f"CLIP_NORM={self.clip_norm!r}: use 0 (off) or a norm > 0, e.g. 1.0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"PRECISION={self.precision!r}: choose one of {PRECISIONS}")
        if not 0 <= self.ema_momentum < 1:
            raise ValueError(f"EMA_MOMENTUM={self.ema_momentum!r}: use 0 (off) or a momentum in (0, 1), e.g. 0.99")
        if not 0 <= self.warp_end <= 1:
            raise ValueError(f"WARP_END={self.warp_end!r}: give a share of the starting warp in [0, 1] (1 = constant)")
        if not self.time_budget_min >= 0:
            raise ValueError(f"TIME_BUDGET_MIN={self.time_budget_min!r}: must be >= 0 (0 = no limit)")
        if not (isinstance(self.save_every_min, (int, float)) and 0 <= self.save_every_min < math.inf):
            raise ValueError(f"SAVE_EVERY_MIN={self.save_every_min!r}: give the minutes between checkpoints, e.g. 5, "
                             "or 0 to save every SAVE_EVERY steps only")
        self._check_detail()

    def _check_detail(self) -> None:
        from swaplab.model import detail

        s = self.image_size
        if self.detail_size not in (None, 0, *(k * s for k in detail.SCALES)):
            raise ValueError(f"DETAIL_SIZE={self.detail_size!r}: use {' or '.join(str(k * s) for k in detail.SCALES)} "
                             f"(2x or 4x MODEL={self.model!r}'s {s} px), None to choose by the face sets, or 0 for none")
        if not (isinstance(self.detail_share, (int, float)) and 0 <= self.detail_share < 1):
            raise ValueError(f"DETAIL_SHARE={self.detail_share!r}: give the detail stage's share of TIME_BUDGET_MIN in [0, 1)")
        if self.detail_steps is None:  # the same share of the steps as of the time
            self.detail_steps = math.ceil(self.steps * self.detail_share / (1 - self.detail_share))
        elif not isinstance(self.detail_steps, int) or self.detail_steps < 0:
            raise ValueError(f"DETAIL_STEPS={self.detail_steps!r}: must be a whole number >= 0 (0: the detail stage trains "
                             "no steps), or None for a DETAIL_SHARE of STEPS")
        if self.detail_pairs not in detail.PAIRS:
            raise ValueError(f"DETAIL_PAIRS={self.detail_pairs!r}: choose one of {detail.PAIRS}")
        if not isinstance(self.detail_exemplars, bool):
            raise ValueError(f"DETAIL_EXEMPLARS={self.detail_exemplars!r}: must be True or False")

    def _check_run(self) -> None:
        if runs.has_checkpoint(self.run_dir):
            saved = runs.read_config(self.run_dir)
            for what, done in (("STEPS", int(saved.get("steps_done", 0))), ("DETAIL_STEPS", int(saved.get("detail_steps_done", 0)))):
                if done > getattr(self, what.lower()):
                    raise ValueError(f"{what}={getattr(self, what.lower())} is below the {done} steps RUN={self.run!r} has "
                                     f"already trained: set {what} above {done} to train on ({what} counts the resumed "
                                     "steps), or give a new RUN to start over")
            size = saved.get("detail_size")
            if runs.has_detail(self.run_dir) and self.detail_size is not None and self.detail_size != size:
                raise ValueError(f"DETAIL_SIZE={self.detail_size}: RUN={self.run!r} has a detail stage at {size} px: set "
                                 f"DETAIL_SIZE={size} (or None) to resume it, or give a new RUN")
        elif self.init_from:
            runs.check_source(self.source_dir, self.init_from, self.model, self.image_size)

    @property
    def people(self) -> tuple[str, ...]:
        """Whose face sets this run reads: PERSON_A and PERSON_B, or in pretrain mode PRETRAIN_PEOPLE."""
        return self.pretrain_people or (self.person_a, self.person_b)

    @property
    def image_size(self) -> int:
        return MODELS[self.model].image_size

    @property
    def run_dir(self) -> Path:
        return paths.run_dir(self.weights_dir, self.project, self.run)

    @property
    def source_dir(self) -> Path | None:
        """The INIT_FROM run's folder (None without INIT_FROM)."""
        return paths.source_run_dir(self.weights_dir, self.project, self.init_from) if self.init_from else None

    def detail_spec(self):
        """The detail nets' shape (``detail.DetailSpec``): the one the run saved its detail stage with, so a run
        resumes and loads as it was trained whatever the defaults become; else the defaults' for DETAIL_SIZE."""
        from swaplab.model.detail import DetailSpec, spec_for

        if runs.has_detail(self.run_dir) and (saved := runs.read_config(self.run_dir).get("detail_spec")):
            return DetailSpec(**saved)
        return spec_for(self.model, self.image_size, self.detail_size)

    def to_json(self) -> dict:
        out = {**asdict(self), "image_size": self.image_size}
        if self.detail_size:
            out["detail_spec"] = asdict(self.detail_spec())
        return out


# ---------------------------------------------------------------- data


def make_dataset(images, masks, batch_size: int, seed: int, augment: AugmentConfig | None = None,
                 start: int = 0, warp_strength=1.0) -> tf.data.Dataset:
    """Endless batches of (warped, target, mask) from in-memory arrays of one person.

    images (N, S, S, 3) uint8, masks (N, S, S, 2) uint8 in {0, 255}. Shuffled, batched,
    then augmented per batch in the graph (``augment_batch``), with a stateless seed
    (seed, batch index): the stream is reproducible and ``start`` skips ahead on resume.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if len(images) < batch_size:
        raise ValueError(f"{len(images)} faces but BATCH_SIZE={batch_size}: collect more faces or lower BATCH_SIZE")
    ds = tf.data.Dataset.from_tensor_slices((images, masks))
    ds = ds.shuffle(len(images), seed=seed + start, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=True)  # fixed shapes: one trace of train_step
    ds = tf.data.Dataset.zip(ds, tf.data.Dataset.counter(start))
    augment = augment or AugmentConfig()
    ds = ds.map(lambda pair, i: augment_batch(pair[0], pair[1], tf.stack([tf.cast(seed, tf.int64), i]), augment,
                                              warp_strength),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_training_dataset(data_a, data_b, batch_size: int, seed: int, augment: AugmentConfig | None = None,
                          start: int = 0, warp_strength=1.0) -> tf.data.Dataset:
    """A and B zipped into the dict ``SwapModel.train_step`` expects; data_x = (images, masks)."""
    ds_a = make_dataset(*data_a, batch_size, seed, augment, start, warp_strength)
    ds_b = make_dataset(*data_b, batch_size, seed + 1, augment, start, warp_strength)
    return tf.data.Dataset.zip(ds_a, ds_b).map(
        lambda a, b: {"warped_a": a[0], "target_a": a[1], "mask_a": a[2],
                      "warped_b": b[0], "target_b": b[1], "mask_b": b[2]})


def load_training_data(config: TrainConfig):
    """((images_a, masks_a), (images_b, masks_b)) from the face sets: PERSON_A and PERSON_B, or in
    pretrain mode the PRETRAIN_PEOPLE pooled on both sides (each side shuffles and warps them on its own)."""
    from swaplab.face.faceset import load_training_arrays

    def faces(person):
        return load_training_arrays(paths.faces_dir(config.data_dir, config.project, person), config.image_size)

    if not config.pretrain_people:
        return faces(config.person_a), faces(config.person_b)
    sets = [faces(p) for p in config.pretrain_people]
    pool = tuple(np.concatenate([s[i] for s in sets]) for i in (0, 1))
    return pool, pool


# ---------------------------------------------------------------- the schedule


def run_progress(step: int, seconds: float, config: TrainConfig) -> float:
    """How far a run is through its planned length, in [0, 1]: the larger of step / STEPS and
    training seconds (all sessions) / TIME_BUDGET_MIN. A resumed run past its plan stays at 1."""
    p = step / config.steps
    if config.time_budget_min:
        p = max(p, seconds / (60.0 * config.time_budget_min))
    return min(p, 1.0)


def learning_rate_at(step: int, progress: float, config: TrainConfig) -> float:
    """LEARNING_RATE x linear warm-up over WARMUP_STEPS x (cosine: decay to LR_FLOOR at progress 1)."""
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    decay = LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress)) if config.lr_schedule == "cosine" else 1.0
    return config.learning_rate * warm * decay


def warp_at(progress: float, config: TrainConfig) -> float:
    """The warp's strength multiplier: 1 at the start, WARP_END at the run's end, linear between."""
    return 1.0 - (1.0 - config.warp_end) * progress


def planned_steps(config: TrainConfig, first_step: int, step: int, elapsed: float, before: float = 0.0) -> int:
    """The step this session will end at: STEPS, or fewer when TIME_BUDGET_MIN will stop it first at
    the rate so far (steps since ``first_step`` over ``elapsed`` seconds of this session; ``before``:
    training seconds of the run's earlier sessions, which the budget counts too)."""
    budget = 60.0 * config.time_budget_min
    if not budget or step <= first_step or elapsed <= 0:
        return config.steps
    rate = (step - first_step) / elapsed
    return max(step, min(config.steps, step + math.ceil(rate * max(budget - before - elapsed, 0.0))))


# ---------------------------------------------------------------- the loop


def train(config: TrainConfig, callbacks: list | None = None, data=None, strategy=None, detail_data=None) -> dict:
    """Train (or resume) the run ``config`` describes: the autoencoder, then its detail stage; returns the
    report also saved as train_report.json.

    data: ((images_a, masks_a), (images_b, masks_b)) in memory at the model's size, or None to read the
    face sets (``load_training_data``). detail_data: the same faces, in the same order, at the detail
    stage's size, or None to read them from the face sets (``load_detail_data``; with ``data`` in memory
    and no face sets, DETAIL_SIZE=None then means no detail stage). callbacks: extra Keras callbacks
    beside the built-in hooks, for both stages (``self.model`` is the ``SwapModel``, then the
    ``DetailModel``). strategy: a ``tf.distribute`` strategy, or None for ``distribute.select_strategy()``
    (MultiWorkerMirroredStrategy when TF_CONFIG names several workers: then only the chief writes into
    the run folder).

    Ctrl-C (KeyboardInterrupt: Jupyter's "Interrupt kernel" too) or SIGTERM stop it at any point: the stage
    whose ``fit`` was running is saved at the step it reached, then ``Interrupted`` is raised, one line saying
    where the run stands and how to go on; running ``train`` again with the same config continues from there.
    """
    config.validate(faces=data is None)  # before any slow work, and before the run folder is made
    token = stopping.RUNNING.set(None)
    with stopping.stop_signals():
        try:
            strategy = strategy or distribute.select_strategy()
            replicas, workers = strategy.num_replicas_in_sync, distribute.worker_info(strategy)[1]
            if config.batch_size % replicas:
                raise ValueError(f"BATCH_SIZE={config.batch_size} does not split evenly over {replicas} replicas: "
                                 f"give a multiple of {replicas} (BATCH_SIZE is global, the sum over all replicas)")
            if workers > 1 and config.time_budget_min:
                raise ValueError(f"TIME_BUDGET_MIN={config.time_budget_min} with {workers} workers: their clocks would "
                                 "stop them at different steps; set TIME_BUDGET_MIN=0 and give STEPS instead")
            config.detail_size = _detail_size(config, in_memory=data is not None and detail_data is None)
            with distribute.write_dir(config.run_dir, strategy) as out_dir:
                try:
                    return _train(config, callbacks or [], data, strategy, out_dir, detail_data)
                except (KeyboardInterrupt, files.Terminated):
                    stopping.save_running()  # here: a worker's temporary folder goes when this block is left
                    raise
        except (KeyboardInterrupt, files.Terminated) as stop:
            raise _interrupted(config, stop) from None  # from None: the one line, not a chain of tracebacks
        finally:
            stopping.RUNNING.reset(token)


def _train(config: TrainConfig, callbacks: list, data, strategy, out_dir: Path, detail_data) -> dict:
    """The loop itself: data, model, resume, ``model.fit`` with the hooks, the detail stage, report.
    ``out_dir``: where this worker writes (the run folder; a temporary one on a worker other than the chief)."""
    resume = runs.has_checkpoint(config.run_dir)
    saved = runs.read_config(config.run_dir) if resume else {}
    if resume:
        _say_if_done(config, saved)
    # 1. data: every face of both sets in memory, warped batch by batch in the tf.data graph
    data = data if data is not None else load_training_data(config)
    keras.utils.set_random_seed(config.seed)
    # 2. the model and its optimizer on the strategy's devices, restored from the checkpoint (or a warm start)
    model, dtype = _build_model(config, strategy, resume)
    done = int(model.optimizer.iterations.numpy())
    distribute.check_workers_agree(strategy, config.to_json(), done, config.weights_dir)
    history = runs.read_history(config.run_dir, up_to=done) if resume else []
    if not resume:
        runs.start(out_dir, config.to_json())
    out_dir.mkdir(parents=True, exist_ok=True)
    # 3. the input pipeline, resumed at step ``done``; the schedule sets the warp's strength through a variable
    warp = tf.Variable(1.0, trainable=False, dtype=tf.float32, name="warp_strength")
    ds = make_training_dataset(*data, config.batch_size, config.seed, config.augment, start=done, warp_strength=warp)
    ds = ds.with_options(distribute.shard_by_data())  # several workers: each keeps its share of every global batch
    # 4. the loop: Keras runs SwapModel.train_step LOG_EVERY steps per "epoch", with the hooks around each step;
    #    with a detail stage still to train, the autoencoder gets 1 - DETAIL_SHARE of TIME_BUDGET_MIN
    phase = _autoencoder_phase(config, saved)
    time_before = history[-1]["time_s"] if history else 0.0
    run_cb = _RunCallback(phase, history, time_before, lambda: runs.save(out_dir, model, config.to_json(), history),
                          [c for c in callbacks if hasattr(c, "off_clock_s")])
    hooks = [_Schedule(phase, run_cb, warp), run_cb, *_plots(config, data, history, out_dir, run_cb), *callbacks]
    started = time.perf_counter()
    if done < config.steps and not _spent(phase, time_before):
        _fit(model, ds, phase, done, hooks)
    # 5. the report, then the detail stage in what is left of TIME_BUDGET_MIN (the budget of the run in all)
    report = _report(config, model, strategy, dtype, done, history, time.perf_counter() - started)
    if config.detail_size:
        left = config.time_budget_min - (history[-1]["time_s"] / 60 if history else 0.0)
        report["detail"] = _train_detail(config, model, data, detail_data, strategy, dtype, out_dir, left, callbacks)
    write_json(out_dir / runs.REPORT, report)
    return report


def _say_if_done(config: TrainConfig, saved: dict) -> None:
    """One line when a resumed run has nothing left to train: its STEPS, or its TIME_BUDGET_MIN, are done."""
    if saved.get("steps_done") == config.steps and (not config.detail_size or saved.get("detail_steps_done") == config.detail_steps):
        print(f"RUN={config.run!r} has already trained STEPS={config.steps} steps: nothing to train; "
              f"set STEPS above {config.steps} to train on", flush=True)
        return
    minutes = sum(_seconds(runs.read_history(config.run_dir, stage=s)) for s in ("", "detail")) / 60
    if config.time_budget_min and minutes >= config.time_budget_min - 0.02 / 60:  # two stages' rounding (_spent)
        print(f"RUN={config.run!r} has already trained {minutes:.1f} of TIME_BUDGET_MIN={config.time_budget_min:g} minutes "
              "(the budget counts every session): nothing to train; raise TIME_BUDGET_MIN to train on", flush=True)


def _fit(model, ds, phase: TrainConfig, done: int, hooks: list) -> None:
    """``model.fit`` from step ``done`` to ``phase.steps`` in "epochs" of LOG_EVERY steps (the hooks stop it earlier)."""
    le = phase.log_every
    model.fit(ds, steps_per_epoch=le, initial_epoch=done // le, epochs=math.ceil(phase.steps / le),
              verbose=0, shuffle=False, callbacks=hooks)


def _spent(phase: TrainConfig, seconds: float) -> bool:
    """True when a stage has trained its share of TIME_BUDGET_MIN (``seconds``: its training time in all sessions)."""
    # the history keeps seconds to 0.01: a stage stopped at its budget may read up to 0.005 s short of it
    return bool(phase.time_budget_min) and seconds >= 60.0 * phase.time_budget_min - 0.01


def _autoencoder_phase(config: TrainConfig, saved: dict) -> TrainConfig:
    """The config the autoencoder's hooks run by: TIME_BUDGET_MIN less the detail stage's share while the
    detail stage has steps left (all of it otherwise)."""
    detail_left = config.detail_size and int(saved.get("detail_steps_done", 0)) < config.detail_steps
    if not (detail_left and config.time_budget_min):
        return config
    return replace(config, time_budget_min=config.time_budget_min * (1.0 - config.detail_share))


def _detail_size(config: TrainConfig, in_memory: bool) -> int:
    """DETAIL_SIZE for this run: as given; else the run's own; else 4x (or 2x) the model's size as far as the
    face sets hold; 0 (none) for faces given in memory with no face sets, or face sets too small for 2x."""
    if config.detail_size is not None:
        return config.detail_size
    saved = runs.read_config(config.run_dir).get("detail_size") if runs.has_checkpoint(config.run_dir) else None
    if saved is not None:
        return int(saved)
    if in_memory and not all(paths.faces_dir(config.data_dir, config.project, p).is_dir() for p in config.people):
        return 0
    from swaplab.model.detail import SCALES

    fits = [k * config.image_size for k in sorted(SCALES, reverse=True) if k * config.image_size <= config.face_size()]
    return fits[0] if fits else 0


def _build_model(config: TrainConfig, strategy, resume: bool):
    """(compiled ``SwapModel`` with its Adam optimizer built, the dtype policy), restored from the run's
    checkpoint when resuming, else from INIT_FROM's weights (layers only: a fresh optimizer), else new."""
    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    with strategy.scope():
        dtype = distribute.compute_dtype(config.precision, on_gpu)
        model = build_swap_model(config.model, config.image_size, dtype=dtype)
        model.loss_fn = make_face_loss(config.mae_weight, config.dssim_weight, config.eyes_mouth_weight, config.edge_weight)
        # with EMA, Keras assigns the averaged weights to the model at the end of fit: the saved run draws with them
        optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=0.5, beta_2=0.999, use_ema=config.ema_momentum > 0,
                                          ema_momentum=config.ema_momentum or 0.99,
                                          global_clipnorm=config.clip_norm or None)
        model.compile(optimizer=optimizer, jit_compile=on_gpu)  # XLA on GPUs; on the CPU it measured slower than oneDNN
        model.optimizer.build(model.trainable_variables)  # so a checkpoint's optimizer state can load
        if resume:
            runs.load_weights(model, config.run_dir, f"RUN={config.run!r}")
        elif config.init_from:  # the layers only: the checkpoint's optimizer state (and step count) stays behind
            model.set_weights(runs.load(config.source_dir).get_weights())
    return model, dtype


def _plots(config: TrainConfig, data, history: list[dict], out_dir: Path, run_cb: "_RunCallback") -> list:
    """The preview and loss plots (``viz.LivePlot``) and the TensorBoard log, on a fixed set of faces
    evenly spread over each set, so previews are comparable over time."""
    from swaplab.model.viz import LivePlot, TensorBoardLog, preview_grid

    faces_a, faces_b = (images[_picks(images)] for images, _ in data)
    board = TensorBoardLog(out_dir, history, run_cb.step, config.batch_size)
    live = LivePlot(lambda model: preview_grid(model, faces_a, faces_b), history, out_dir, config.preview_every,
                    run_cb.step, config.interactive, on_draw=[board.image])
    return [live, board]  # live first: its last grid is logged before the board flushes


def _picks(images, n: int = 4) -> np.ndarray:
    """Indices of ``n`` faces evenly spread over a set: the same faces in every preview, so previews compare over time."""
    return np.linspace(0, len(images) - 1, min(n, len(images))).astype(int)


def _report(config: TrainConfig, model, strategy, dtype, done: int, history: list[dict], seconds: float) -> dict:
    """What this session did: steps, speed, final losses; with INIT_FROM, the steps the warm start saved."""
    steps_done = int(model.optimizer.iterations.numpy())
    report = {"run": config.run, "model": config.model, "image_size": config.image_size,
              "steps_done": steps_done, "steps_this_session": steps_done - done, "resumed_from_step": done,
              "seconds_this_session": round(seconds, 1),
              "steps_per_s": (steps_done - done) / seconds if seconds else None,
              "faces_per_s": 2 * config.batch_size * (steps_done - done) / seconds if seconds else None,
              "gflop_per_face": flops_per_face(model) / 1e9,
              "final_loss_a": history[-1]["loss_a"] if history else None,
              "final_loss_b": history[-1]["loss_b"] if history else None,
              "replicas": strategy.num_replicas_in_sync, "mixed_precision": dtype or "float32"}
    if config.init_from:
        report["warm_start"] = {"init_from": config.init_from,
                                **warm_start_savings(history, runs.read_history(config.source_dir))}
    return report


# ---------------------------------------------------------------- the detail stage


def _train_detail(config: TrainConfig, autoencoder, data, detail_data, strategy, dtype, out_dir: Path,
                  budget_min: float, callbacks: list) -> dict:
    """6. The detail stage (``swaplab.model.detail``): each person's net learns to draw their face at DETAIL_SIZE from
    the decoder's face, on their own face set, for ``budget_min`` minutes (0: no limit) up to DETAIL_STEPS;
    resumed from the run's detail.weights.h5, or started from INIT_FROM's detail stage when it has the same shape."""
    from swaplab.model import detail

    spec = config.detail_spec()
    net = _build_detail(config, spec, strategy, dtype)
    done = int(net.optimizer.iterations.numpy())
    history = runs.read_history(config.run_dir, up_to=done, stage="detail") if done else []
    phase = replace(config, steps=config.detail_steps, time_budget_min=max(budget_min, 0.0), learning_rate=detail.LEARNING_RATE,
                    warmup_steps=detail.WARMUP_STEPS, warp_end=1.0, batch_size=detail.BATCH_SIZE)
    if done >= phase.steps or (config.time_budget_min and (budget_min <= 0 or _spent(phase, _seconds(history)))):
        return _detail_report(spec, config, done, done, history, 0.0)
    detail_data = detail_data if detail_data is not None else load_detail_data(config)
    raw = {side: _bank(d) if config.detail_exemplars else None for side, d in zip("ab", detail_data)}
    banks = {side: exemplars.usable(b, f"person {getattr(config, 'person_' + side)!r}") for side, b in raw.items()}
    runs.save_banks(out_dir, banks)  # each person's exemplars, in the run: it swaps without its face sets
    sides = detail.training_sides(autoencoder, data, detail_data, config.detail_pairs, banks)
    ds = detail.make_dataset(sides, phase.batch_size, config.seed, config.detail_pairs, config.image_size, start=done)
    run_cb = _RunCallback(phase, history, _seconds(history),
                          lambda: runs.save(out_dir, net, config.to_json(), history, stage="detail"),
                          [c for c in callbacks if hasattr(c, "off_clock_s")], label="detail ")
    hooks = [_Schedule(phase, run_cb, None), run_cb, *_detail_plots(config, autoencoder, data, detail_data, {**banks, "a": raw["a"]}, history,
                                                                      out_dir, run_cb),
             *callbacks]
    started = time.perf_counter()
    _fit(net, ds.with_options(distribute.shard_by_data()), phase, done, hooks)
    return _detail_report(spec, config, done, int(net.optimizer.iterations.numpy()), history, time.perf_counter() - started)


def _seconds(history: list[dict]) -> float:
    """A stage's training seconds in all its sessions (its history's last record)."""
    return history[-1]["time_s"] if history else 0.0


def _build_detail(config: TrainConfig, spec, strategy, dtype):
    """The ``DetailModel`` with its Adam optimizer built, restored from the run, or from INIT_FROM's of the same shape."""
    from swaplab.model import detail

    with strategy.scope():
        net = detail.build_detail_model(spec, dtype)
        on_gpu = bool(tf.config.list_logical_devices("GPU"))
        net.compile(optimizer=keras.optimizers.Adam(detail.LEARNING_RATE, global_clipnorm=config.clip_norm or None),
                    jit_compile=on_gpu)
        net.optimizer.build(net.trainable_variables)
        if runs.has_detail(config.run_dir):
            runs.load_weights(net, config.run_dir, f"RUN={config.run!r}", runs.DETAIL)
        elif config.init_from and runs.has_detail(config.source_dir):
            source = runs.read_config(config.source_dir).get("detail_spec")
            if source == asdict(spec):  # another pair's detail nets: a start that already knows faces
                net.set_weights(runs.load_detail(config.source_dir).get_weights())
            else:
                print(f"INIT_FROM={config.init_from!r}: its detail stage has another shape ({source}, this run's: "
                      f"{asdict(spec)}): this run's detail stage starts from scratch", flush=True)
    return net


def load_detail_data(config: TrainConfig):
    """((images_a, masks_a, bank_a), (images_b, masks_b, bank_b)) at DETAIL_SIZE from the face sets, in
    ``load_training_data``'s order; the banks (``exemplars``) hold the same faces with their landmarks."""
    from swaplab.face.faceset import load_training_arrays

    def faces(person):
        folder = paths.faces_dir(config.data_dir, config.project, person)
        images, masks = load_training_arrays(folder, config.detail_size)
        return images, masks, exemplars.bank_of(folder, images)

    if not config.pretrain_people:
        return faces(config.person_a), faces(config.person_b)
    sets = [faces(p) for p in config.pretrain_people]
    pool = (*(np.concatenate([s[i] for s in sets]) for i in (0, 1)), exemplars.pooled([s[2] for s in sets]))
    return pool, pool


def _bank(faces):
    """A side's exemplar bank: given with its faces ((images, masks, bank), from the face sets), or made from
    (images, masks, landmarks) given in memory (each face a source of its own), or None for (images, masks)."""
    if len(faces) < 3:
        return None
    if isinstance(faces[2], exemplars.ExemplarBank):
        return faces[2]
    return exemplars.ExemplarBank.from_arrays(faces[0], faces[2], sources=np.arange(len(faces[0])))


def _detail_plots(config: TrainConfig, autoencoder, data, detail_data, banks: dict, history, out_dir: Path, run_cb) -> list:
    """The detail stage's live loss and preview grid (A, A->B, A->B + detail | B, B->B, B->B + detail at
    DETAIL_SIZE, on the same faces every time) and its TensorBoard curves, beside the autoencoder's."""
    from swaplab.model import detail
    from swaplab.model.viz import LivePlot, TensorBoardLog

    picks = [_picks(images, 3) for images, _ in data]
    small = [d[0][p] for d, p in zip(data, picks)]
    big = [d[0][p] for d, p in zip(detail_data, picks)]
    fines = detail.preview_fines(banks, picks, config.image_size) if all(banks.values()) else (None, None)  # A: landmarks only
    board = TensorBoardLog(out_dir, history, run_cb.step, detail.BATCH_SIZE, name="detail")
    live = LivePlot(lambda net: detail.preview_grid(autoencoder, net, small, big, fines), history, out_dir, config.preview_every,
                    run_cb.step, config.interactive, on_draw=[board.image], name="detail",
                    title="A  A→B  A→B + detail  |  B  B→B  B→B + detail")
    return [live, board]


def _detail_report(spec, config: TrainConfig, done: int, steps_done: int, history: list[dict], seconds: float) -> dict:
    """What the detail stage did this session: its size, steps, speed and final losses."""
    from swaplab.model import detail

    return {"size": spec.size, "pairs": config.detail_pairs, "steps_done": steps_done, "steps_this_session": steps_done - done,
            "seconds_this_session": round(seconds, 1),
            "faces_per_s": 2 * detail.BATCH_SIZE * (steps_done - done) / seconds if seconds else None,
            "final_loss_a": history[-1]["loss_a"] if history else None,
            "final_loss_b": history[-1]["loss_b"] if history else None}


# ---------------------------------------------------------------- stopping: Ctrl-C and SIGTERM


def _interrupted(config: TrainConfig, stop: BaseException) -> Interrupted:
    """The one line after a stop: the steps the run's config.json says are saved, and how to continue."""
    signum = signal.SIGTERM if isinstance(stop, files.Terminated) else signal.SIGINT
    how = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    try:
        saved = runs.read_config(config.run_dir) if runs.has_checkpoint(config.run_dir) else {}
    except (OSError, ValueError):  # a damaged config.json: its own error comes on the next run
        saved = {}
    if not saved:
        where = "before its first checkpoint: nothing saved"
    else:
        steps, detail = int(saved.get("steps_done", 0)), int(saved.get("detail_steps_done") or 0)
        where = (f"at step {steps} of {config.steps}"
                 + (f" (detail stage step {detail} of {config.detail_steps})" if detail and config.detail_size else "")
                 + f": saved {config.run_dir}")
    return Interrupted(f"interrupted by {how} {where}; run 03_train again with RUN={config.run!r} to continue from there",
                       signum, where)


# ---------------------------------------------------------------- the hooks


def _set_total(bar, total: int) -> None:
    """Change a tqdm bar's length (its text, and in Jupyter its progress widget too)."""
    bar.total = total
    container = getattr(bar, "container", None)  # tqdm.notebook: HBox(label, IProgress, label)
    if container is not None:
        container.children[1].max = total


class _Schedule(keras.callbacks.Callback):
    """Sets the learning rate and the warp strength before every step from the run's progress."""

    def __init__(self, config: TrainConfig, run_cb: "_RunCallback", warp: tf.Variable | None):
        super().__init__()
        self.config, self.run_cb, self.warp = config, run_cb, warp
        self.constant = config.lr_schedule == "constant" and not config.warmup_steps and config.warp_end == 1.0

    def on_train_batch_begin(self, batch, logs=None):
        if self.constant:
            return
        step = self.run_cb.step()
        p = run_progress(step, self.run_cb.total_seconds(), self.config)
        self.model.optimizer.learning_rate.assign(learning_rate_at(step, p, self.config))
        if self.warp is not None:  # the detail stage has no warp
            self.warp.assign(warp_at(p, self.config))


class _RunCallback(keras.callbacks.Callback):
    """Stops at STEPS or the time budget, records history, prints progress, saves (``runs.save``: atomic, the latest
    and the previous checkpoint) every SAVE_EVERY steps, every SAVE_EVERY_MIN minutes, at the end and when ``train``
    is interrupted (``stop``).

    Not ``keras.callbacks.BackupAndRestore`` (read in Keras 3.15), which fits a single ``fit`` that may be
    retried, not a run resumed across sessions: it overwrites its file in place (a kill mid-write leaves half a
    file; with ``double_checkpoint`` it first copies the previous one, also in place), deletes its backup when
    ``fit`` ends (a run must keep its checkpoint for the next session and for 04_swap), restores in
    ``on_train_begin``, after the input pipeline was built, whereas SwapLab starts the stream of warped batches
    at the restored step (``make_dataset(start=...)``, so it must be known before ``fit``), saves per epoch or
    per N batches but never by the clock, and runs no hook when Ctrl-C or SIGTERM leave ``fit``. The state it
    would keep, model and optimizer (whose iteration count is the step), is what ``runs.save`` writes.
    """

    def __init__(self, config: TrainConfig, history: list[dict], time_before: float, save, off_clock=(), label: str = ""):
        super().__init__()
        self.config, self.history, self.save = config, history, save
        self.label = label  # "detail ": the detail stage's lines read "detail step ..."
        self.time_before = time_before  # training seconds of earlier sessions of this run
        self.off_clock = list(off_clock)  # callbacks whose ``off_clock_s`` (e.g. a benchmark's scoring) is not training time
        self.bar = None

    def step(self) -> int:
        """Steps done, counted here: reading the optimizer's counter every step would wait on the device."""
        return self.first_step + self.seen

    def elapsed(self) -> float:
        """Training seconds of this session (the time of ``off_clock`` callbacks left out)."""
        return time.perf_counter() - self.start - (sum(c.off_clock_s for c in self.off_clock) - self.off_before)

    def total_seconds(self) -> float:
        """Training seconds of all sessions of this run."""
        return self.time_before + self.elapsed()

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.off_before = sum(c.off_clock_s for c in self.off_clock)  # off-clock time of an earlier stage of this session
        self.first_step = int(self.model.optimizer.iterations.numpy())  # restored on resume
        self.seen = 0
        self.last_print = 0.0
        self.last_save = time.monotonic()
        stopping.RUNNING.set(self)  # train() saves this stage if Ctrl-C or SIGTERM stops its fit
        if self.config.interactive:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.config.steps, initial=self.first_step, unit="step", desc=self.label.strip() or None)

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        step, elapsed = self.step(), self.elapsed()
        if self.bar is not None:
            planned = planned_steps(self.config, self.first_step, step, elapsed, self.time_before)
            if abs(planned - self.bar.total) > 0.01 * self.bar.total:  # the bar's end and ETA follow TIME_BUDGET_MIN
                _set_total(self.bar, planned)
            self.bar.update(step - self.bar.n)
        minutes = self.config.save_every_min  # by the clock too: a kill -9 or a lost machine costs at most this
        if step % self.config.save_every == 0 or (minutes and time.monotonic() - self.last_save >= 60 * minutes):
            self._save()
        budget = self.config.time_budget_min  # the stage's share of the run's budget: all its sessions count
        if step >= self.config.steps or (budget and self.time_before + elapsed >= budget * 60):
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        step, elapsed = self.step(), self.elapsed()
        self.history.append({"step": step, "loss_a": float(logs["loss_a"]), "loss_b": float(logs["loss_b"]),
                             "time_s": round(self.time_before + elapsed, 2),
                             "lr": float(self.model.optimizer.learning_rate.numpy())})
        rate = (step - self.first_step) / max(elapsed, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix(loss_a=f"{logs['loss_a']:.4f}", loss_b=f"{logs['loss_b']:.4f}")
        elif elapsed - self.last_print >= 10 or step >= self.config.steps:  # verbose=2 style: a line now and then
            self.last_print = elapsed
            planned = planned_steps(self.config, self.first_step, step, elapsed, self.time_before)
            eta = (planned - step) / max(rate, 1e-9)
            end = str(planned) if planned == self.config.steps else f"~{planned} in TIME_BUDGET_MIN"
            print(f"{self.label}step {step}/{end}  loss_a {logs['loss_a']:.4f}  loss_b {logs['loss_b']:.4f}  "
                  f"{rate:.2f} steps/s  elapsed {elapsed / 60:.1f} min  ETA {eta / 60:.1f} min", flush=True)

    def on_train_end(self, logs=None):
        self._save()  # also after a SAVE_EVERY step: history.json gains the epoch's last record after it
        stopping.RUNNING.set(None)  # after the save: an interrupt during it saves again
        if self.bar is not None:
            self.bar.close()

    def stop(self) -> None:
        """Save now, as ``fit`` was stopped by Ctrl-C or SIGTERM (called by ``train``, not by Keras)."""
        stopping.RUNNING.set(None)
        if self.bar is not None:  # the signal may have come after a step, before its on_train_batch_end
            self.bar.update(int(self.model.optimizer.iterations.numpy()) - self.bar.n)
            self.bar.close()
        self._save()

    def _save(self) -> None:
        self.save()
        self.last_save = time.monotonic()


# ---------------------------------------------------------------- what a warm start saved


def steps_to_loss(history: list[dict], target: float) -> int | None:
    """First step at which the mean of loss_a and loss_b is <= ``target``; None if never."""
    for h in history:
        if (h["loss_a"] + h["loss_b"]) / 2 <= target:
            return int(h["step"])
    return None


def warm_start_savings(history: list[dict], source_history: list[dict]) -> dict:
    """Steps a warm-started run saved, measured against a from-scratch run's history.

    The target is the loss this run ended at; the from-scratch reference is the source
    run's own history (it started from random weights), so no extra run is needed.
    """
    if not history:
        return {}
    target = (history[-1]["loss_a"] + history[-1]["loss_b"]) / 2
    warm, scratch = steps_to_loss(history, target), steps_to_loss(source_history, target)
    return {"target_loss": target, "steps_warm": warm, "steps_from_scratch": scratch,
            "steps_saved": None if scratch is None else scratch - warm,
            "note": None if scratch is not None else "the source run never reached this loss: saved more than "
                                                     f"{source_history[-1]['step'] if source_history else 0} steps"}
