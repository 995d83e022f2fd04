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
                       steps; ``viz.LivePlot`` draws previews and the loss every PREVIEW_EVERY
                       steps; ``viz.TensorBoardLog`` logs the same for TensorBoard

A run lives in ``weights/<project>/<run>/`` (``swaplab.runs`` has the layout). Running
``train`` again on the same run resumes: the optimizer (with its step count) comes back
from the checkpoint. ``init_from`` starts a new run from another run's weights with a
fresh optimizer: the shared encoder already knows faces, so a new pair reaches a given
quality in far fewer steps. ``pretrain_people`` makes such a base run: both decoders
learn a pool of many identities (DeepFaceLab's pretraining), and any later pair starts
from it with ``init_from="<project>/<run>"``.

The schedule is a function of the run's progress (the larger of step / STEPS and
training time / TIME_BUDGET_MIN, so a time-boxed run decays on time): the learning
rate warms up linearly over ``warmup_steps`` and, with ``lr_schedule="cosine"``,
decays to ``LR_FLOOR`` of its peak at the end; the warp's strength falls linearly to
``warp_end`` of its start. The recipe's defaults were chosen by
``benchmarks/quality_curve.py`` at equal CPU minutes (docs/ablation.md).

Hardware (``swaplab.distribute``): the CPU's default strategy in mixed_bfloat16 where it
has bf16 units, else float32; one GPU in mixed_float16 with XLA; several GPUs mirrored;
several workers named by ``TF_CONFIG`` (``python -m swaplab.train_worker``). BATCH_SIZE is
global: split over all replicas of all workers.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from swaplab import distribute, paths, runs
from swaplab.augment import AugmentConfig, augment_batch
from swaplab.files import write_json
from swaplab.losses import make_face_loss
from swaplab.models import DEFAULT_CPU_MODEL, MODELS, build_swap_model, flops_per_face
from swaplab.params import Parameters

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
    model: str = DEFAULT_CPU_MODEL  # architecture, a key of swaplab.models.MODELS
    batch_size: int = 16  # faces per person per step (global: split over GPUs)
    steps: int = 2000  # stop after this many steps in total (counting resumed ones)
    time_budget_min: float = 0.0  # also stop after this many minutes of this session; 0 = no limit
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
        return self

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


    def _check_run(self) -> None:
        if runs.has_checkpoint(self.run_dir):
            done = int(runs.read_config(self.run_dir).get("steps_done", 0))
            if done > self.steps:
                raise ValueError(f"STEPS={self.steps} is below the {done} steps RUN={self.run!r} has already trained: "
                                 f"set STEPS above {done} to train on (STEPS counts the resumed steps), "
                                 "or give a new RUN to start over")
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

    def to_json(self) -> dict:
        return {**asdict(self), "image_size": self.image_size}


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
    from swaplab.faceset import load_training_arrays

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


def planned_steps(config: TrainConfig, first_step: int, step: int, elapsed: float) -> int:
    """The step this session will end at: STEPS, or fewer when TIME_BUDGET_MIN will stop it first at
    the rate so far (steps since ``first_step`` over ``elapsed`` seconds of this session)."""
    budget = 60.0 * config.time_budget_min
    if not budget or step <= first_step or elapsed <= 0:
        return config.steps
    rate = (step - first_step) / elapsed
    return max(step, min(config.steps, step + math.ceil(rate * max(budget - elapsed, 0.0))))


# ---------------------------------------------------------------- the loop


def train(config: TrainConfig, callbacks: list | None = None, data=None, strategy=None) -> dict:
    """Train (or resume) the run ``config`` describes; returns the report also saved as train_report.json.

    data: ((images_a, masks_a), (images_b, masks_b)) in memory, or None to read the face
    sets (``load_training_data``). callbacks: extra Keras callbacks beside the built-in
    hooks. strategy: a ``tf.distribute`` strategy, or None for ``distribute.select_strategy()``
    (MultiWorkerMirroredStrategy when TF_CONFIG names several workers: then only the chief
    writes into the run folder).
    """
    config.validate(faces=data is None)  # before any slow work, and before the run folder is made
    strategy = strategy or distribute.select_strategy()
    replicas, workers = strategy.num_replicas_in_sync, distribute.worker_info(strategy)[1]
    if config.batch_size % replicas:
        raise ValueError(f"BATCH_SIZE={config.batch_size} does not split evenly over {replicas} replicas: "
                         f"give a multiple of {replicas} (BATCH_SIZE is global, the sum over all replicas)")
    if workers > 1 and config.time_budget_min:
        raise ValueError(f"TIME_BUDGET_MIN={config.time_budget_min} with {workers} workers: their clocks would "
                         "stop them at different steps; set TIME_BUDGET_MIN=0 and give STEPS instead")
    with distribute.write_dir(config.run_dir, strategy) as out_dir:
        return _train(config, callbacks or [], data, strategy, out_dir)


def _train(config: TrainConfig, callbacks: list, data, strategy, out_dir: Path) -> dict:
    """The loop itself: data, model, resume, ``model.fit`` with the hooks, report. ``out_dir``: where
    this worker writes (the run folder; a temporary one on a worker other than the chief)."""
    resume = runs.has_checkpoint(config.run_dir)
    if resume and runs.read_config(config.run_dir).get("steps_done") == config.steps:
        print(f"RUN={config.run!r} has already trained STEPS={config.steps} steps: nothing to train; "
              f"set STEPS above {config.steps} to train on", flush=True)
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
    # 4. the loop: Keras runs SwapModel.train_step LOG_EVERY steps per "epoch", with the hooks around each step
    time_before = history[-1]["time_s"] if history else 0.0
    run_cb = _RunCallback(config, history, time_before, lambda: runs.save(out_dir, model, config.to_json(), history),
                          [c for c in callbacks if hasattr(c, "off_clock_s")])
    hooks = [_Schedule(config, run_cb, warp), run_cb, *_plots(config, data, history, out_dir, run_cb), *callbacks]
    started = time.perf_counter()
    if done < config.steps:
        le = config.log_every
        model.fit(ds, steps_per_epoch=le, initial_epoch=done // le, epochs=math.ceil(config.steps / le),
                  verbose=0, shuffle=False, callbacks=hooks)
    # 5. the report
    report = _report(config, model, strategy, dtype, done, history, time.perf_counter() - started)
    write_json(out_dir / runs.REPORT, report)
    return report


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
    from swaplab.viz import LivePlot, TensorBoardLog

    picks = [np.linspace(0, len(images) - 1, min(4, len(images))).astype(int) for images, _ in data]
    board = TensorBoardLog(out_dir, history, run_cb.step, config.batch_size)
    live = LivePlot(data[0][0][picks[0]], data[1][0][picks[1]], history, out_dir, config.preview_every,
                    run_cb.step, config.interactive, on_draw=[board.image])
    return [live, board]  # live first: its last grid is logged before the board flushes


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


# ---------------------------------------------------------------- the hooks


def _set_total(bar, total: int) -> None:
    """Change a tqdm bar's length (its text, and in Jupyter its progress widget too)."""
    bar.total = total
    container = getattr(bar, "container", None)  # tqdm.notebook: HBox(label, IProgress, label)
    if container is not None:
        container.children[1].max = total


class _Schedule(keras.callbacks.Callback):
    """Sets the learning rate and the warp strength before every step from the run's progress."""

    def __init__(self, config: TrainConfig, run_cb: "_RunCallback", warp: tf.Variable):
        super().__init__()
        self.config, self.run_cb, self.warp = config, run_cb, warp
        self.constant = config.lr_schedule == "constant" and not config.warmup_steps and config.warp_end == 1.0

    def on_train_batch_begin(self, batch, logs=None):
        if self.constant:
            return
        step = self.run_cb.step()
        p = run_progress(step, self.run_cb.total_seconds(), self.config)
        self.model.optimizer.learning_rate.assign(learning_rate_at(step, p, self.config))
        self.warp.assign(warp_at(p, self.config))


class _RunCallback(keras.callbacks.Callback):
    """Stops at STEPS or the time budget, records history, prints progress, saves atomically."""

    def __init__(self, config: TrainConfig, history: list[dict], time_before: float, save, off_clock=()):
        super().__init__()
        self.config, self.history, self.save = config, history, save
        self.time_before = time_before  # training seconds of earlier sessions of this run
        self.off_clock = list(off_clock)  # callbacks whose ``off_clock_s`` (e.g. a benchmark's scoring) is not training time
        self.bar = None

    def step(self) -> int:
        """Steps done, counted here: reading the optimizer's counter every step would wait on the device."""
        return self.first_step + self.seen

    def elapsed(self) -> float:
        """Training seconds of this session (the time of ``off_clock`` callbacks left out)."""
        return time.perf_counter() - self.start - sum(c.off_clock_s for c in self.off_clock)

    def total_seconds(self) -> float:
        """Training seconds of all sessions of this run."""
        return self.time_before + self.elapsed()

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.first_step = int(self.model.optimizer.iterations.numpy())  # restored on resume
        self.seen = 0
        self.last_print = 0.0
        if self.config.interactive:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.config.steps, initial=self.first_step, unit="step")

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        step, elapsed = self.step(), self.elapsed()
        if self.bar is not None:
            planned = planned_steps(self.config, self.first_step, step, elapsed)
            if abs(planned - self.bar.total) > 0.01 * self.bar.total:  # the bar's end and ETA follow TIME_BUDGET_MIN
                _set_total(self.bar, planned)
            self.bar.update(step - self.bar.n)
        if step % self.config.save_every == 0:
            self.save()
        budget = self.config.time_budget_min
        if step >= self.config.steps or (budget and elapsed >= budget * 60):
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
            planned = planned_steps(self.config, self.first_step, step, elapsed)
            eta = (planned - step) / max(rate, 1e-9)
            end = str(planned) if planned == self.config.steps else f"~{planned} in TIME_BUDGET_MIN"
            print(f"step {step}/{end}  loss_a {logs['loss_a']:.4f}  loss_b {logs['loss_b']:.4f}  "
                  f"{rate:.2f} steps/s  elapsed {elapsed / 60:.1f} min  ETA {eta / 60:.1f} min", flush=True)

    def on_train_end(self, logs=None):
        self.save()  # also after a SAVE_EVERY step: history.json gains the epoch's last record after it
        if self.bar is not None:
            self.bar.close()


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
