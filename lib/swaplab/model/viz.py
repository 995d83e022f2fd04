"""Watching a model learn: loss plots and A/B preview grids, live in Jupyter, PNGs headless, and TensorBoard.

``preview_grid`` and ``plot_losses`` are plain functions other notebooks reuse.
The two Keras callbacks 03_train adds to every run are here, side by side:
``LivePlot`` redraws one output in place in Jupyter (``IPython.display`` with a
``display_id``, imported only when asked for) and writes ``previews/step_XXXXXX.png``
and ``loss.png`` into the run folder; ``TensorBoardLog`` writes the losses, learning
rate and faces/s every LOG_EVERY steps and the grids LivePlot draws into the run's
``tensorboard/``, so ``%tensorboard --logdir weights/<project>`` overlays every run.

Neither piles up over a long run: previews/ keeps each stage's latest ``KEEP_PREVIEWS`` grids
and those at PREVIEW_EVERY x 1, 2, 4, 8, ... steps (``prune_previews``: ~25 files after 100,000
previews); TensorBoard, whose event file only grows, gets the 1st, 2nd, 4th, 8th, ... grid of each
session and its last, while its scalars (a few bytes every LOG_EVERY steps) all stay.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt  # without a display matplotlib falls back to Agg by itself
import numpy as np

from swaplab.core.files import atomic_path
from swaplab.model import runs
from swaplab.model.models import as_unit_float

KEEP_PREVIEWS = 8  # previews/ keeps each stage's latest this many grids, beside the doubling history


def preview_grid(model, faces_a, faces_b, sketches=(None, None)) -> np.ndarray:
    """Rows of faces; columns A, A->A, A->B | B, B->B, B->A.

    faces_a, faces_b: (n, S, S, 3) float32 in [0, 1] or uint8 (the same n for both); ``sketches``: their sketches
    (n, S, S, 2) for a sketched model (each face is drawn along its own). Returns (n*S, 6*S, 3) uint8 RGB.
    """
    faces_a, faces_b = as_unit_float(faces_a), as_unit_float(faces_b)
    if len(faces_a) != len(faces_b):
        raise ValueError(f"preview_grid: {len(faces_a)} faces of A but {len(faces_b)} of B; pass as many of each")
    sk_a, sk_b = sketches
    cols = [faces_a, model.reconstruct(faces_a, "a", sketch=sk_a), model.swap(faces_a, to="b", sketch=sk_a),
            faces_b, model.reconstruct(faces_b, "b", sketch=sk_b), model.swap(faces_b, to="a", sketch=sk_b)]
    rows = np.concatenate(cols, axis=2)  # (n, S, 6S, 3)
    grid = np.concatenate(list(rows), axis=0)  # (nS, 6S, 3)
    return (np.clip(grid, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def loss_figure(history: list[dict], name: str = ""):
    """Figure of loss_a and loss_b against step, log scale. history: [{"step", "loss_a", "loss_b"}, ...];
    ``name`` "detail": the detail stage's losses (masked L1 + edges at its size)."""
    steps = [h["step"] for h in history]
    ylabel = "masked L1 + edges (detail stage)" if name == "detail" else "masked MAE + DSSIM"
    return curves_figure([(f"{name} loss {side.upper()}".strip(), steps, [h[f"loss_{side}"] for h in history]) for side in "ab"],
                         ylabel, figsize=(6, 3.2))


def curves_figure(curves, ylabel: str, figsize=(7, 3.5)):
    """One figure of (label, steps, values) curves against step, log scale, with a legend."""
    fig, ax = plt.subplots(figsize=figsize, dpi=100)
    for label, steps, values in curves:
        ax.plot(steps, values, label=label)
    if any(len(steps) for _, steps, _ in curves):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_losses(history: list[dict], path, name: str = "") -> Path:
    """Write the loss plot of ``history`` to ``path`` (PNG, atomically); returns the path."""
    fig = loss_figure(history, name)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def save_figure(fig, path) -> Path:
    """Write a matplotlib figure as PNG (tight bounding box), atomically; returns the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return Path(path)


def save_png(image: np.ndarray, path) -> Path:
    """Write a (H, W, 3) uint8 image as PNG, atomically."""
    with atomic_path(path) as tmp:
        plt.imsave(tmp, image, format="png")
    return Path(path)


def on_doubling_history(step: int, every: int) -> bool:
    """True when ``step`` is ``every`` x 1, 2, 4, 8, ...: the previews kept for good, a history that thins as it ages."""
    k, rest = divmod(step, every)
    return rest == 0 and k > 0 and k & (k - 1) == 0


def prune_previews(folder, prefix: str, every: int, keep: int = KEEP_PREVIEWS) -> None:
    """Delete the previews of one stage (``folder/{prefix}step_NNNNNN.png``) except the latest ``keep`` and those on
    the doubling history (``on_doubling_history``), so previews/ stays a few dozen files however long a run trains."""
    pattern = re.compile(rf"^{re.escape(prefix)}step_(\d+)\.png$")
    found = sorted((int(m.group(1)), p) for p in Path(folder).iterdir() if (m := pattern.match(p.name)))
    for step, path in found[:-keep]:
        if not on_doubling_history(step, every):
            path.unlink(missing_ok=True)


class LivePlot(keras.callbacks.Callback):
    """Every ``every`` steps (and at the end): preview grid + loss plot, in place or as PNGs.

    ``grid_fn(model)`` draws the preview grid ((h, w, 3) uint8: ``preview_grid`` for the
    autoencoder, ``pairs.preview_grid`` for the detail stage); ``history`` is the list the
    training loop appends records to (shared, not copied); ``step_fn`` returns the run's step
    as the loop counts it (``train.hooks.RunCallback.step``: reading the optimizer's counter every
    step would wait on the device). ``name`` prefixes the files ("detail": previews/detail_step_*.png,
    detail_loss.png) and titles, so both stages of a run draw side by side. previews/ is pruned after each draw
    (``prune_previews``).
    """

    def __init__(self, grid_fn, history: list[dict], out_dir, every: int, step_fn, interactive: bool = False,
                 on_draw=(), name: str = "", title: str = "A  A→A  A→B  |  B  B→B  B→A"):
        super().__init__()
        self.on_draw = list(on_draw)  # listeners called with (step, grid) after each draw (the TensorBoard log)
        self.grid_fn, self.name, self.title = grid_fn, name, title
        self.history, self.every, self.step_fn = history, every, step_fn
        self.out_dir = Path(out_dir)
        self.interactive = interactive
        self._handle = None  # IPython DisplayHandle, created on first draw
        self.last_grid = None  # (h, w, 3) uint8 of the latest draw

    def on_train_batch_end(self, batch, logs=None):
        step = self.step_fn()
        if step % self.every == 0:
            self.draw(step)

    def on_train_end(self, logs=None):
        self.draw(self.step_fn())

    def draw(self, step: int) -> None:
        self.last_grid = self.grid_fn(self.model)
        prefix = f"{self.name}_" if self.name else ""
        save_png(self.last_grid, self.out_dir / "previews" / f"{prefix}step_{step:06d}.png")
        prune_previews(self.out_dir / "previews", prefix, self.every)
        plot_losses(self.history, self.out_dir / f"{prefix}loss.png", self.name)
        for listener in self.on_draw:
            listener(step, self.last_grid)
        if self.interactive:
            self._show(step)

    def _show(self, step: int) -> None:
        from IPython.display import display  # lazy: lib/ never needs IPython to import

        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.5), gridspec_kw={"width_ratios": [1, 1.4]})
        steps = [h["step"] for h in self.history]
        for side in "ab":
            left.plot(steps, [h[f"loss_{side}"] for h in self.history], label=f"{self.name} loss {side.upper()}".strip())
        if self.history:
            left.set_yscale("log")
        left.set_xlabel(f"{self.name} step".strip())
        left.legend()
        right.imshow(self.last_grid)
        right.set_title(f"{self.name} step {step}:  {self.title}".strip(), fontsize=9)
        right.axis("off")
        fig.tight_layout()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)


class TensorBoardLog(keras.callbacks.Callback):
    """Scalars every LOG_EVERY steps, and the preview grids ``viz.LivePlot`` draws, into ``run_dir/tensorboard``:
    the 1st, 2nd, 4th, 8th, ... grid of a session and its last (an event file only grows: every grid of a long GPU
    run would add hundreds of MB).

    ``history``: the training loop's list of records ({"step", "loss_a", "loss_b", "lr", ...});
    ``step_fn``: the global step. Give ``image`` to the LivePlot as a listener
    (``LivePlot(..., on_draw=[board.image])``) and put the LivePlot before this callback,
    so the last grid is logged before the log is flushed.
    """

    def __init__(self, run_dir, history: list[dict], step_fn, batch_size: int, name: str = ""):
        super().__init__()
        self.prefix = f"{name}/" if name else ""  # "detail/": the detail stage's curves beside the autoencoder's
        self.log_dir = Path(run_dir) / runs.TENSORBOARD
        self.history, self.step_fn, self.batch_size = history, step_fn, batch_size
        self.writer = None
        self.grids = 0  # grids offered this session
        self.pending = None  # (step, grid) of the latest grid not logged yet

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(str(self.log_dir))
        self._last = (self.step_fn(), time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        if not self.history:
            return
        h, now = self.history[-1], time.perf_counter()
        step0, t0 = self._last
        self._last = (h["step"], now)
        with self.writer.as_default(step=h["step"]):
            for name in ("loss_a", "loss_b"):
                tf.summary.scalar(f"{self.prefix}loss/{name[-1]}", h[name])
            if "lr" in h:
                tf.summary.scalar(f"{self.prefix}learning_rate", h["lr"])
            if now > t0 and h["step"] > step0:
                tf.summary.scalar(f"{self.prefix}faces_per_s", 2 * self.batch_size * (h["step"] - step0) / (now - t0))

    def on_train_end(self, logs=None):
        if self.pending is not None:  # the session's last grid
            self._log_image(*self.pending)
        self.writer.flush()

    def image(self, step: int, grid: np.ndarray) -> None:
        """Offer a preview grid ((n*S, 6*S, 3) uint8) drawn at ``step``: logged if it is the 1st, 2nd, 4th, ... of the
        session, else kept until ``on_train_end`` in case it is the last."""
        self.grids += 1
        self.pending = (step, grid)
        if self.grids & (self.grids - 1) == 0:
            self._log_image(step, grid)

    def _log_image(self, step: int, grid: np.ndarray) -> None:
        import tensorflow as tf

        self.pending = None
        title = "detail A A>B A>B+detail | B B>B B>B+detail" if self.prefix else "preview A A>A A>B | B B>B B>A"
        with self.writer.as_default(step=step):
            tf.summary.image(title, grid[None], max_outputs=1)
