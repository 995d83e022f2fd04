"""Training: the shared encoder and the two decoders learn to rebuild warped faces (03_train).

Read this file top to bottom; it is the training loop, in the spirit of nanoGPT's ``train.py``,
with its parts in the modules beside it:

  ``TrainConfig``        every knob of a run (``config.py``), checked by ``validate()`` (``checks.py``) before
                       any slow work
  data                 ``data.load_training_data`` reads both face sets into memory (``data.with_expressions``
                       adds EXPRESSIONS of them with other lid and mouth positions); ``data.make_dataset``
                       shuffles, batches and warps them in the tf.data graph (``augment.augment_batch``)
  the schedule         ``schedule.learning_rate_at`` and ``schedule.warp_at``, functions of the run's progress
  the loop             ``train`` -> ``_train``: build or restore the model, ``model.fit`` with the
                       hooks below, write the report; then the detail stage (``detail_stage.py``)
  the step             ``SwapModel.train_step`` (models.py, as in keras-io's examples): encoder +
                       both decoders on a warped batch of A and of B, one Adam step on the sum of
                       the two face losses (``losses.make_face_loss``)
  the hooks            ``schedule.Schedule`` sets the learning rate and warp before each step;
                       ``hooks.RunCallback`` stops at STEPS or TIME_BUDGET_MIN, logs the history,
                       prints progress and checkpoints (``runs.save``, atomic) every SAVE_EVERY
                       steps and every SAVE_EVERY_MIN minutes; ``guard.CollapseGuard`` puts back the last
                       good weights at a lower learning rate when the loss collapses; ``viz.LivePlot`` draws previews and
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

import signal
import time
from dataclasses import replace
from pathlib import Path

import keras
import tensorflow as tf

from swaplab.core import files, paths
from swaplab.core.files import write_json
from swaplab.model import runs
from swaplab.model.losses import make_face_loss
from swaplab.model.models import build_swap_model, flops_per_face
from swaplab.train import distribute, stopping
from swaplab.train.checks import face_size
from swaplab.train.config import TrainConfig
from swaplab.train.data import load_training_data, make_training_dataset, provenance, say_changes, with_expressions
from swaplab.train.detail_stage import fit, spent, stage_seconds, train_detail
from swaplab.train.guard import CollapseGuard
from swaplab.train.hooks import RunCallback, plots
from swaplab.train.schedule import Schedule, planned_steps
from swaplab.train.stopping import Interrupted
from swaplab.train.warmstart import warm_start_savings

__all__ = ["Interrupted", "TrainConfig", "load_training_data", "make_training_dataset", "planned_steps", "train"]


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
    from_sets = data is None
    loaded = provenance(config, data)  # before the faces: what they were when loaded, for the detail stage's check
    if resume:
        say_changes(config, "autoencoder", loaded)
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
    trained_on = with_expressions(config, data) if from_sets else data  # + faces given other expressions (EXPRESSIONS)
    ds = make_training_dataset(*trained_on, config.batch_size, config.seed, config.augment, start=done, warp_strength=warp)
    ds = ds.with_options(distribute.shard_by_data())  # several workers: each keeps its share of every global batch
    # 4. the loop: Keras runs SwapModel.train_step LOG_EVERY steps per "epoch", with the hooks around each step;
    #    with a detail stage still to train, the autoencoder gets 1 - DETAIL_SHARE of TIME_BUDGET_MIN
    phase = _autoencoder_phase(config, saved)
    time_before = history[-1]["time_s"] if history else 0.0
    run_cb = RunCallback(phase, history, time_before, lambda: runs.save(out_dir, model, config.to_json(), history, provenance={"autoencoder": loaded}),
                          [c for c in callbacks if hasattr(c, "off_clock_s")])
    schedule = Schedule(phase, run_cb, warp)
    guard = CollapseGuard(run_cb, schedule)  # a collapsed loss goes back to the last good weights, at a lower rate
    hooks = [schedule, run_cb, guard, *plots(config, data, history, out_dir, run_cb), *callbacks]
    started = time.perf_counter()
    if done < config.steps and not spent(phase, time_before):
        fit(model, ds, phase, done, hooks)
    # 5. the report, then the detail stage in what is left of TIME_BUDGET_MIN (the budget of the run in all)
    report = {**_report(config, model, strategy, dtype, done, history, time.perf_counter() - started),
              "collapses": guard.events}
    if config.detail_size:
        left = config.time_budget_min - (history[-1]["time_s"] / 60 if history else 0.0)
        report["detail"] = train_detail(config, model, data, detail_data, strategy, dtype, out_dir, left, callbacks,
                                        loaded if from_sets else None)
    write_json(out_dir / runs.REPORT, report)
    return report


def _say_if_done(config: TrainConfig, saved: dict) -> None:
    """One line when a resumed run has nothing left to train: its STEPS, or its TIME_BUDGET_MIN, are done."""
    if saved.get("steps_done") == config.steps and (not config.detail_size or saved.get("detail_steps_done") == config.detail_steps):
        print(f"RUN={config.run!r} has already trained STEPS={config.steps} steps: nothing to train; "
              f"set STEPS above {config.steps} to train on", flush=True)
        return
    minutes = sum(stage_seconds(runs.read_history(config.run_dir, stage=s)) for s in ("", "detail")) / 60
    if config.time_budget_min and minutes >= config.time_budget_min - 0.02 / 60:  # two stages' rounding (_spent)
        print(f"RUN={config.run!r} has already trained {minutes:.1f} of TIME_BUDGET_MIN={config.time_budget_min:g} minutes "
              "(the budget counts every session): nothing to train; raise TIME_BUDGET_MIN to train on", flush=True)




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

    fits = [k * config.image_size for k in sorted(SCALES, reverse=True) if k * config.image_size <= face_size(config)]
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


