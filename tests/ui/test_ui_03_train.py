"""03_train with INTERACTIVE=True in JupyterLab: the progress bar, the loss plot and the preview grid
change in place while training runs, the bar's end follows TIME_BUDGET_MIN, and no cell (the TensorBoard
one included) prints an error."""

import base64
import io
import re
import time

import numpy as np

STEPS = 100_000  # far more than the time budget allows: the bar must end where the budget stops training
BUDGET_MIN = 1.0  # 60 s of training (the first step alone, tracing the graph, takes 5-50 s by load)


def _png(src: str) -> np.ndarray:
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("L")
    return np.asarray(image.resize((1000, 300)), np.float32)  # tight_layout moves the width a little as labels change


def _watch(nb, cell, timeout: float) -> tuple[list[str], list[str], int]:
    """Poll the training cell until every cell ran: (bar texts, live-plot sources, most images seen at once)."""
    bars, plots, most = [], [], 0
    bar, images = cell.locator(".widget-hprogress").locator("xpath=.."), cell.locator(".jp-OutputArea-output img")
    end = time.time() + timeout
    while time.time() < end and not nb.finished():
        if bar.count():
            text = bar.first.inner_text().replace("\n", " ")
            if not bars or text != bars[-1]:
                bars.append(text)
        srcs = [s for s in (images.nth(i).get_attribute("src") for i in range(images.count())) if s]
        most = max(most, len(srcs))
        if srcs and (not plots or srcs[-1] != plots[-1]):
            plots.append(srcs[-1])
        time.sleep(0.2)
    return bars, plots, most


def test_03_train_live_progress_and_plots(aligned_project, open_notebook, screenshot_on_failure):
    data_dir, weights_dir, project = aligned_project
    params = dict(PROJECT=project, PERSON_A="a", PERSON_B="b", RUN="ui", MODEL="tiny", BATCH_SIZE=4, STEPS=STEPS,
                  TIME_BUDGET_MIN=BUDGET_MIN, PREVIEW_EVERY=2, LOG_EVERY=2, SAVE_EVERY=STEPS, WARMUP_STEPS=0,
                  DATA_DIR=str(data_dir), WEIGHTS_DIR=str(weights_dir), SEED=0, INTERACTIVE=True)
    nb = open_notebook("03_train", params)
    with screenshot_on_failure(nb):
        nb.run_all()
        bars, plots, most = _watch(nb, nb.cell("train.train(CONFIG"), timeout=600)
        nb.wait_finished(120)

        counts = [tuple(map(int, m.groups())) for m in (re.search(r"(\d+)/(\d+)", b) for b in bars) if m]
        done = sorted({n for n, _ in counts})
        assert len(done) >= 3, f"the progress bar did not move while training: {bars}"
        assert counts[-1][1] < STEPS, f"the bar ends at STEPS={STEPS}, not where TIME_BUDGET_MIN={BUDGET_MIN} stops it: {bars[-1]}"
        assert counts[-1][0] >= 0.8 * counts[-1][1], f"training stopped far from the bar's end: {bars[-1]}"

        assert len(plots) >= 2, f"the live plot was never redrawn while training ran (bar: {bars})"
        assert most == 1, f"{most} images in the training cell's output at once: the live plot must update in place"
        first, last = _png(plots[0]), _png(plots[-1])
        half = first.shape[1] * 2 // 5  # left: the loss plot; right: the preview grid (width ratios 1 : 1.4)
        assert np.abs(first[:, :half] - last[:, :half]).mean() > 0.5, "the loss plot did not change"
        assert np.abs(first[:, half:] - last[:, half:]).mean() > 0.5, "the preview grid did not change"

        assert not nb.bad_outputs(), f"error output in 03_train: {nb.bad_outputs()}"
