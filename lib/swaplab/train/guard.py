"""The collapse guard: a run whose loss jumps to a plateau goes back to its last good weights and trains on at half the
learning rate, instead of spending the rest of its budget drawing a flat, face-coloured blob.

A collapse is abrupt and does not heal: the head-pose benchmark's 30-minute run (38 faces of B, ``slim_sketch`` at
its 1e-3 peak, gradient norm clipped at 1.0) went from a loss of 0.09 (A + B) at step 720 to 0.52 at 730 and 1.34 at
740, and stayed there for the 9,000 steps left: the decoders' outputs saturated. Gradient clipping bounds a step, not
where a run of steps leads. So ``CollapseGuard``, a hook on both stages:

- keeps an in-memory copy of the weights and the optimizer's state (its moments, not its step count), taken every
  ``SNAPSHOT_EVERY`` steps while the loss is near the best the session has seen;
- calls a record of ``LOG_EVERY`` steps whose loss (A + B) is ``FACTOR`` times the session's best, or not finite, a
  collapse: it puts the copy back, cuts the learning rate to ``LR_CUT`` of the schedule's from then on, and says so in
  one line; the run's report lists every rescue (``events``);
- after ``MAX_RESCUES`` collapses it puts the copy back and stops the stage, saying to lower LEARNING_RATE.

Its figures were set from that one collapse (a jump of 6x, then 15x) against the noise of healthy records (a 10-step
mean moves by well under 2x after warm-up), not tuned on a result.
"""

from __future__ import annotations

import math

import keras
import numpy as np

FACTOR = 3.0  # a record whose loss is this many times the session's best is a collapse
SNAPSHOT_EVERY = 100  # steps between in-memory copies of the weights and optimizer state, taken while healthy
HEALTHY = 1.5  # ... healthy: the record's loss within this factor of the best
LR_CUT = 0.5  # after a rescue the learning rate is this share of the schedule's (compounding)
MAX_RESCUES = 3  # then the stage stops at its last good weights


class CollapseGuard(keras.callbacks.Callback):
    """Rescues a collapsed stage (see the module). ``run_cb``: the stage's ``RunCallback`` (its step counter);
    ``schedule``: its ``Schedule`` (whose ``scale`` the rescue cuts); ``label``: "detail " for the detail stage."""

    def __init__(self, run_cb, schedule, label: str = ""):
        super().__init__()
        self.run_cb, self.schedule, self.label = run_cb, schedule, label
        self.events: list[dict] = []
        self.best = math.inf
        self.copy = None  # (step, model weights, optimizer variables)

    def on_train_begin(self, logs=None):
        self.best = math.inf
        self._keep(self.run_cb.step())  # the weights the stage starts from (restored or new)

    def on_epoch_end(self, epoch, logs=None):
        if not logs or "loss_a" not in logs:
            return
        step, loss = self.run_cb.step(), float(logs["loss_a"]) + float(logs["loss_b"])
        if not math.isfinite(loss) or loss > FACTOR * self.best:
            self._rescue(step, loss)
            return
        self.best = min(self.best, loss)
        if loss <= HEALTHY * self.best and step - self.copy[0] >= SNAPSHOT_EVERY:
            self._keep(step)

    def _optimizer_variables(self) -> list:
        """The optimizer's state but its step count and learning rate (a rescue keeps counting and sets the rate)."""
        return [v for v in self.model.optimizer.variables if not any(k in v.path for k in ("iteration", "learning_rate"))]

    def _keep(self, step: int) -> None:
        self.copy = (step, [np.array(v) for v in self.model.weights],
                     [np.array(v) for v in self._optimizer_variables()])

    def _rescue(self, step: int, loss: float) -> None:
        back_to, weights, state = self.copy
        for v, x in zip(self.model.weights, weights):
            v.assign(x)
        for v, x in zip(self._optimizer_variables(), state):
            v.assign(x)
        self.schedule.scale *= LR_CUT
        self.model.optimizer.learning_rate.assign(float(self.model.optimizer.learning_rate.numpy()) * LR_CUT)
        gave_up = len(self.events) + 1 >= MAX_RESCUES
        self.events.append({"step": step, "loss": loss if math.isfinite(loss) else None, "best": self.best,
                            "back_to_step": back_to, "lr_scale": self.schedule.scale, "stopped": gave_up})
        what = f"the loss (A + B) jumped to {loss:.3g}, {loss / self.best:.0f}x its best {self.best:.3g}" if math.isfinite(loss) \
            else "the loss is not a number"
        if gave_up:
            self.model.stop_training = True
            print(f"{self.label}step {step}: {what}: the stage collapsed {len(self.events)} times; stopped at the weights "
                  f"of step {back_to}. Lower LEARNING_RATE (this run's peak times {self.schedule.scale:g} collapsed too) "
                  "and run 03_train again: it resumes", flush=True)
        else:
            print(f"{self.label}step {step}: {what} (a collapse: the output saturated); back to the weights of step "
                  f"{back_to}, the learning rate x{self.schedule.scale:g} from now on", flush=True)
