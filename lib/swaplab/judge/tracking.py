"""Comparing runs (06_compare): the table of runs, their loss curves and their latest previews.

Every run logs to ``weights/<project>/<run>/tensorboard/`` while it trains
(``viz.TensorBoardLog``), so ``%tensorboard --logdir weights/<project>`` overlays every
run of a project; ``read_scalars`` reads those logs back.

``runs_table`` reads what runs leave on disk (config.json, history.json,
train_report.json, the metrics of 05_evaluate) into one row per run;
``loss_curves`` and ``preview_row`` draw them side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from swaplab.core import paths
from swaplab.core.files import read_json
from swaplab.core.params import Parameters
from swaplab.model import runs

METRIC_COLUMNS = ("pasted_share", "detail_fine", "ceiling64_fine", "lookup_fine", "detail_ratio", "identity_retrieval", "pose_error_deg",
                  "expression_error", "mouth_sync", "jitter_ratio")


def read_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} from a run's TensorBoard event files (what TensorBoard would plot)."""
    import tensorflow as tf

    out: dict[str, list[tuple[int, float]]] = {}
    for f in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(f)):
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name == "scalars":
                    out.setdefault(v.tag, []).append((event.step, float(tf.make_ndarray(v.tensor))))
    return out


def run_metrics(data_dir, weights_dir, project: str, run: str) -> dict:
    """{direction: metrics summary} of a run: the run folder's metrics_*.json (swaplab.notebook.sweep keeps them
    there), else the project's reports/metrics_*.json that name this run (05_evaluate's last result)."""
    found = {}
    for f in sorted(paths.reports_dir(data_dir, project).glob("metrics_*.json")):
        m = read_json(f, {})
        if m.get("run") == run:
            found[m.get("direction", f.stem[8:])] = m.get("summary", {})
    for f in sorted(paths.run_dir(weights_dir, project, run).glob("metrics_*.json")):
        m = read_json(f, {})
        found[m.get("direction", f.stem[8:])] = m.get("summary", {})
    return found


@dataclass
class CompareConfig(Parameters):
    """06_compare's parameters: which runs of a project to set side by side."""

    project: str = "demo"  # the A/B experiment whose runs are compared: weights/<project>/*/
    runs: list = field(default_factory=list)  # run folders to compare, in this order; empty = every run of the project
    data_dir: str = "data"  # where 05_evaluate's metrics are (data/<project>/reports/)
    weights_dir: str = "weights"  # where runs live
    interactive: bool = False  # also open TensorBoard inline over every run
    rows: list = field(init=False, default=None, repr=False)  # ``runs_table`` rows of the chosen runs, in order
    names: list = field(init=False, default=None, repr=False)  # their names
    reports: Path = field(init=False, default=None, repr=False)  # data/<project>/reports/ (made here)

    def validate(self) -> "CompareConfig":
        self.check_names("project")
        rows = runs_table(self.data_dir, self.weights_dir, self.project)
        root = Path(self.weights_dir) / self.project
        if not rows:
            raise FileNotFoundError(f"{root} holds no trained run: run 03_train (or swaplab.notebook.sweep) first")
        if self.runs:
            missing = sorted(set(self.runs) - {r["run"] for r in rows})
            if missing:
                self.bad("runs", f"no run {missing} in {root}; it has {[r['run'] for r in rows]}")
            rows = sorted((r for r in rows if r["run"] in self.runs), key=lambda r: self.runs.index(r["run"]))
        self.rows, self.names = rows, [r["run"] for r in rows]
        self.reports = paths.reports_dir(self.data_dir, self.project)
        self.reports.mkdir(parents=True, exist_ok=True)
        return self


def runs_table(data_dir, weights_dir, project: str) -> list[dict]:
    """One row per run of ``project`` (folders of weights/<project>/ with a config.json), sorted by name:
    run, model, steps, detail stage (size, steps), minutes of both stages, faces/s, final losses, and
    ``<direction> <metric>`` for each evaluation."""
    rows = []
    root = Path(weights_dir) / project
    for run_dir in sorted(p for p in root.glob("*") if (p / runs.CONFIG).exists()):
        config = read_json(run_dir / runs.CONFIG, {})
        history = runs.read_history(run_dir)
        report = read_json(run_dir / runs.REPORT, {})
        last = history[-1] if history else {}
        detail = runs.read_history(run_dir, stage="detail")
        minutes = sum(h[-1]["time_s"] for h in (history, detail) if h) / 60 if history else None  # both stages' training
        row = {"run": run_dir.name, "model": config.get("model"), "steps": config.get("steps_done"),
               "detail_size": config.get("detail_size") or None, "detail_steps": config.get("detail_steps_done"),
               "minutes": round(minutes, 2) if minutes is not None else None,
               "faces_per_s": report.get("faces_per_s"), "loss_a": last.get("loss_a"), "loss_b": last.get("loss_b")}
        for direction, summary in run_metrics(data_dir, weights_dir, project, run_dir.name).items():
            row.update({f"{direction} {k}": summary.get(k) for k in METRIC_COLUMNS})
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as a fixed-width text table (every column any row has; blank where a row lacks it)."""
    if not rows:
        return "(no runs)"
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v):
        return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    cells = [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def loss_curves(weights_dir, project: str, names: list[str]):
    """One figure: the mean of loss A and B against step for each run, log scale."""
    from swaplab.model.viz import curves_figure

    curves = []
    for run in names:
        history = runs.read_history(paths.run_dir(weights_dir, project, run))
        curves.append((run, [h["step"] for h in history], [(h["loss_a"] + h["loss_b"]) / 2 for h in history]))
    return curves_figure(curves, "mean loss of A and B")


def latest_preview(run_dir) -> Path | None:
    """The run's final preview grid, else its latest previews/step_*.png; None if it has none."""
    run_dir = Path(run_dir)
    if (run_dir / "preview_final.png").exists():
        return run_dir / "preview_final.png"
    steps = sorted((run_dir / "previews").glob("step_*.png"))
    return steps[-1] if steps else None


def preview_row(weights_dir, project: str, names: list[str]):
    """One figure: each run's latest preview grid side by side, titled with its name."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(5 * max(len(names), 1), 4), squeeze=False)
    for ax, run in zip(axes[0], names):
        png = latest_preview(paths.run_dir(weights_dir, project, run))
        ax.imshow(plt.imread(png) if png else [[(1.0, 1.0, 1.0)]])
        ax.set_title(run if png else f"{run} (no preview yet)")
        ax.axis("off")
    fig.tight_layout()
    return fig
