"""The run's hooks around ``model.fit``: ``RunCallback`` (stops, history, progress, checkpoints) and the preview
plots (``plots``: ``viz.LivePlot`` and ``viz.TensorBoardLog`` on a fixed set of faces)."""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np

from swaplab.train import stopping
from swaplab.train.schedule import planned_steps


def _set_total(bar, total: int) -> None:
    """Change a tqdm bar's length (its text, and in Jupyter its progress widget too)."""
    bar.total = total
    container = getattr(bar, "container", None)  # tqdm.notebook: HBox(label, IProgress, label)
    if container is not None:
        container.children[1].max = total



class RunCallback(keras.callbacks.Callback):
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

    def __init__(self, config, history: list[dict], time_before: float, save, off_clock=(), label: str = ""):
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


def plots(config, data, history: list[dict], out_dir: Path, run_cb: "RunCallback") -> list:
    """The preview and loss plots (``viz.LivePlot``) and the TensorBoard log, on a fixed set of faces
    evenly spread over each set, so previews are comparable over time."""
    from swaplab.face.faceset import sketch_of
    from swaplab.model.viz import LivePlot, TensorBoardLog, preview_grid

    faces_a, faces_b = (images[picks(images)] for images, _ in data)
    sketches = [sketch_of(masks[picks(masks)]) for _, masks in data]  # a sketched model's, else None
    board = TensorBoardLog(out_dir, history, run_cb.step, config.batch_size)
    live = LivePlot(lambda model: preview_grid(model, faces_a, faces_b, sketches), history, out_dir, config.preview_every,
                    run_cb.step, config.interactive, on_draw=[board.image])
    return [live, board]  # live first: its last grid is logged before the board flushes


def picks(images, n: int = 4) -> np.ndarray:
    """Indices of ``n`` faces evenly spread over a set: the same faces in every preview, so previews compare over time."""
    return np.linspace(0, len(images) - 1, min(n, len(images))).astype(int)

