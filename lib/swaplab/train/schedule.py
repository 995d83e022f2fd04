"""The schedule: the learning rate and the warp's strength as functions of the run's progress (the larger of
step / STEPS and training time / TIME_BUDGET_MIN, so a time-boxed run decays on time), and ``Schedule``, the hook
that sets them before every step. The recipe's defaults were chosen by ``benchmarks/quality_curve.py`` at equal CPU
minutes (docs/ablation.md)."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

LR_FLOOR = 0.1  # the cosine schedule ends at this share of LEARNING_RATE


def run_progress(step: int, seconds: float, config) -> float:
    """How far a run is through its planned length, in [0, 1]: the larger of step / STEPS and
    training seconds (all sessions) / TIME_BUDGET_MIN. A resumed run past its plan stays at 1."""
    p = step / config.steps
    if config.time_budget_min:
        p = max(p, seconds / (60.0 * config.time_budget_min))
    return min(p, 1.0)


def learning_rate_at(step: int, progress: float, config) -> float:
    """LEARNING_RATE x linear warm-up over WARMUP_STEPS x (cosine: decay to LR_FLOOR at progress 1)."""
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    decay = LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress)) if config.lr_schedule == "cosine" else 1.0
    return config.learning_rate * warm * decay


def warp_at(progress: float, config) -> float:
    """The warp's strength multiplier: 1 at the start, WARP_END at the run's end, linear between."""
    return 1.0 - (1.0 - config.warp_end) * progress


def planned_steps(config, first_step: int, step: int, elapsed: float, before: float = 0.0) -> int:
    """The step this session will end at: STEPS, or fewer when TIME_BUDGET_MIN will stop it first at
    the rate so far (steps since ``first_step`` over ``elapsed`` seconds of this session; ``before``:
    training seconds of the run's earlier sessions, which the budget counts too)."""
    budget = 60.0 * config.time_budget_min
    if not budget or step <= first_step or elapsed <= 0:
        return config.steps
    rate = (step - first_step) / elapsed
    return max(step, min(config.steps, step + math.ceil(rate * max(budget - before - elapsed, 0.0))))



class Schedule(keras.callbacks.Callback):
    """Sets the learning rate and the warp strength before every step from the run's progress. ``scale``: a factor on
    the learning rate (the collapse guard cuts it after a rescue: ``swaplab.train.guard``)."""

    def __init__(self, config, run_cb, warp: tf.Variable | None):
        super().__init__()
        self.config, self.run_cb, self.warp = config, run_cb, warp
        self.scale = 1.0
        self.constant = config.lr_schedule == "constant" and not config.warmup_steps and config.warp_end == 1.0

    def on_train_batch_begin(self, batch, logs=None):
        if self.constant:
            return
        step = self.run_cb.step()
        p = run_progress(step, self.run_cb.total_seconds(), self.config)
        self.model.optimizer.learning_rate.assign(learning_rate_at(step, p, self.config) * self.scale)
        if self.warp is not None:  # the detail stage has no warp
            self.warp.assign(warp_at(p, self.config))

