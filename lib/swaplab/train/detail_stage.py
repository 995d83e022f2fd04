"""The detail stage's training (``swaplab.model.detail``): after the autoencoder, each person's net learns to draw their
face at DETAIL_SIZE from the decoder's face, on their own face set, with the fine detail of their own crops nearest
in expression (``exemplars``); resumed from the run's detail.weights.h5, or started from INIT_FROM's detail stage
when it has the same shape."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from swaplab.model import exemplars, runs
from swaplab.train import augment, distribute
from swaplab.train.checks import detail_spec
from swaplab.train.data import bank, check_unchanged, load_detail_data, provenance, say_changes
from swaplab.train.guard import CollapseGuard
from swaplab.train.hooks import RunCallback, picks
from swaplab.train.schedule import Schedule


def spent(phase, seconds: float) -> bool:
    """True when a stage has trained its share of TIME_BUDGET_MIN (``seconds``: its training time in all sessions)."""
    # the history keeps seconds to 0.01: a stage stopped at its budget may read up to 0.005 s short of it
    return bool(phase.time_budget_min) and seconds >= 60.0 * phase.time_budget_min - 0.01


def fit(model, ds, phase, done: int, hooks: list) -> None:
    """``model.fit`` from step ``done`` to ``phase.steps`` in "epochs" of LOG_EVERY steps (the hooks stop it earlier)."""
    le = phase.log_every
    model.fit(ds, steps_per_epoch=le, initial_epoch=done // le, epochs=math.ceil(phase.steps / le),
              verbose=0, shuffle=False, callbacks=hooks)


def train_detail(config, autoencoder, data, detail_data, strategy, dtype, out_dir: Path,
                 budget_min: float, callbacks: list, loaded: dict | None = None) -> dict:
    """The detail stage (``swaplab.model.detail``): each person's net learns to draw their face at DETAIL_SIZE from
    the decoder's face, on their own face set, for ``budget_min`` minutes (0: no limit) up to DETAIL_STEPS;
    resumed from the run's detail.weights.h5, or started from INIT_FROM's detail stage when it has the same shape.
    ``loaded``: the provenance of the faces the autoencoder loaded this session (``data.provenance``): a face set
    changed since is refused (``data.check_unchanged``)."""
    from swaplab.model import detail, pairs

    spec = detail_spec(config)
    net = _build_detail(config, spec, strategy, dtype)
    done = int(net.optimizer.iterations.numpy())
    history = runs.read_history(config.run_dir, up_to=done, stage="detail") if done else []
    phase = replace(config, steps=config.detail_steps, time_budget_min=max(budget_min, 0.0), learning_rate=detail.LEARNING_RATE,
                    warmup_steps=detail.WARMUP_STEPS, warp_end=1.0, batch_size=detail.BATCH_SIZE)
    if done >= phase.steps or (config.time_budget_min and (budget_min <= 0 or spent(phase, stage_seconds(history)))):
        return _detail_report(spec, config, done, done, history, 0.0)
    now = provenance(config, detail_data)
    if detail_data is None and loaded is not None:
        check_unchanged(config, loaded, now)
    if done:
        say_changes(config, "detail", now)
    detail_data = detail_data if detail_data is not None else load_detail_data(config)
    data, detail_data = zip(*(_capped(config, side, small, big) for side, small, big in zip("ab", data, detail_data)))
    raw = {side: bank(d) if config.detail_exemplars else None for side, d in zip("ab", detail_data)}
    banks = {side: exemplars.usable(b, f"person {getattr(config, 'person_' + side)!r}") for side, b in raw.items()}
    first = [_bank_update(config, banks, done)]  # written with the first save: each person's exemplars, in the run
    sides = pairs.training_sides(autoencoder, data, detail_data, config.detail_pairs, banks, spec=spec, seed=config.seed,
                                 inputs=lambda faces, seed: augment.warp_inputs(faces, tf.constant([seed, 1]), config.augment))
    ds = pairs.make_dataset(sides, phase.batch_size, config.seed, config.detail_pairs, config.image_size, start=done)
    run_cb = RunCallback(phase, history, stage_seconds(history),
                         lambda: runs.save(out_dir, net, config.to_json(), history, stage="detail",
                                           banks=first.pop() if first else None, provenance={"detail": now}),
                          [c for c in callbacks if hasattr(c, "off_clock_s")], label="detail ")
    schedule = Schedule(phase, run_cb, None)
    guard = CollapseGuard(run_cb, schedule, label="detail ")
    hooks = [schedule, run_cb, guard, *_detail_plots(config, autoencoder, data, detail_data, {**banks, "a": raw["a"]}, history,
                                                                      out_dir, run_cb),
             *callbacks]
    started = time.perf_counter()
    fit(net, ds.with_options(distribute.shard_by_data()), phase, done, hooks)
    return {**_detail_report(spec, config, done, int(net.optimizer.iterations.numpy()), history, time.perf_counter() - started),
            "collapses": guard.events}


FACES_MAX = exemplars.BANK_MAX  # faces per person the detail stage trains on: its pairs' memory does not grow beyond


def _capped(config, side: str, small, big):
    """A side's faces at the model's and the detail size, at most ``FACES_MAX`` of them (``ExemplarBank.spread`` by their
    landmarks, or at random for faces given without): the exemplar detail the pairs hold (~200-330 KB a face) stays
    bounded however big the face set, and the net learns with a bank of the size 04_swap draws from."""
    n = len(big[0])
    if n <= FACES_MAX:
        return small, big
    side_bank = bank(big)
    idx = side_bank.spread(FACES_MAX, config.seed) if side_bank is not None else \
        np.sort(np.random.default_rng(config.seed).choice(n, FACES_MAX, replace=False))
    print(f"person {getattr(config, 'person_' + side)!r}: the detail stage trains on {FACES_MAX} of the {n} faces (spread "
          "over their expressions and poses), so its memory stays bounded", flush=True)
    rest = [side_bank.take(idx)] if isinstance(side_bank, exemplars.ExemplarBank) and len(big) > 2 and big[2] is side_bank \
        else [np.asarray(x)[idx] for x in big[2:]]
    return tuple(None if x is None else np.asarray(x)[idx] for x in small), (big[0][idx], big[1][idx], *rest)


def _bank_update(config, banks: dict, done: int) -> dict:
    """What the detail stage's first save of this session does to the run's banks ({side: bank, or None to remove}):
    a side with a bank writes it; a new detail stage without one removes a stale file (a net is never given exemplars
    it did not train with); a resumed one keeps the banks its net trained with (DETAIL_EXEMPLARS switched off, or a
    face set now below the coverage bar), saying so in one line."""
    update = {}
    for side, b in banks.items():
        if b is not None or not done:
            update[side] = b
        elif runs.path(config.run_dir, runs.BANK_FILE.format(side=side)).exists():
            why = "DETAIL_EXEMPLARS=False" if not config.detail_exemplars else "its face set gives no usable bank now"
            print(f"{why}: RUN={config.run!r} keeps person {side.upper()}'s exemplar bank, which its detail stage trained "
                  "with (04_swap draws with it); this session trains without exemplars for that person", flush=True)
    return update


def stage_seconds(history: list[dict]) -> float:
    """A stage's training seconds in all its sessions (its history's last record)."""
    return history[-1]["time_s"] if history else 0.0


def _build_detail(config, spec, strategy, dtype):
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



def _detail_plots(config, autoencoder, data, detail_data, banks: dict, history, out_dir: Path, run_cb) -> list:
    """The detail stage's live loss and preview grid (A, A->B, A->B + detail | B, B->B, B->B + detail at
    DETAIL_SIZE, on the same faces every time) and its TensorBoard curves, beside the autoencoder's."""
    from swaplab.face.faceset import sketch_of
    from swaplab.model import detail, pairs
    from swaplab.model.viz import LivePlot, TensorBoardLog

    chosen = [picks(images, 3) for images, _ in data]
    small = [d[0][p] for d, p in zip(data, chosen)]
    big = [d[0][p] for d, p in zip(detail_data, chosen)]
    sketches = [sketch_of(d[1][p]) for d, p in zip(data, chosen)]  # a sketched autoencoder's, else None
    fines = (pairs.preview_fines(banks, chosen, config.image_size, spec=detail_spec(config)) if all(banks.values())
             else (None, None))  # A: landmarks only
    board = TensorBoardLog(out_dir, history, run_cb.step, detail.BATCH_SIZE, name="detail")
    live = LivePlot(lambda net: pairs.preview_grid(autoencoder, net, small, big, fines, sketches), history, out_dir, config.preview_every,
                    run_cb.step, config.interactive, on_draw=[board.image], name="detail",
                    title="A  A→B  A→B + detail  |  B  B→B  B→B + detail")
    return [live, board]


def _detail_report(spec, config, done: int, steps_done: int, history: list[dict], seconds: float) -> dict:
    """What the detail stage did this session: its size, steps, speed and final losses."""
    from swaplab.model import detail

    return {"size": spec.size, "pairs": config.detail_pairs, "steps_done": steps_done, "steps_this_session": steps_done - done,
            "seconds_this_session": round(seconds, 1),
            "faces_per_s": 2 * detail.BATCH_SIZE * (steps_done - done) / seconds if seconds else None,
            "final_loss_a": history[-1]["loss_a"] if history else None,
            "final_loss_b": history[-1]["loss_b"] if history else None}
