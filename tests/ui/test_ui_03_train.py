"""03_train with INTERACTIVE=True in JupyterLab: the progress bar, the loss plot and the preview grid
change in place while training runs, the bar's end follows TIME_BUDGET_MIN, and no cell (the TensorBoard
one included) prints an error; JupyterLab's interrupt button stops training with one line naming the
step it saved, and no traceback."""

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


def _watch(nb, cell, timeout: float) -> tuple[list[str], list[list[str]], int]:
    """Poll the training cell until every cell ran: (bar texts, the sources each live plot showed, in order of
    appearance: the autoencoder's, then the detail stage's; most images seen at once)."""
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
        for i, src in enumerate(srcs):
            if len(plots) <= i:
                plots.append([])
            if not plots[i] or src != plots[i][-1]:
                plots[i].append(src)
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

        assert plots and len(plots[0]) >= 2, f"the live plot was never redrawn while training ran (bar: {bars})"
        # One live plot per stage, each redrawn in place: the autoencoder's, then the detail stage's.
        assert most <= 2 and len(plots) <= 2, f"{most} images in the training cell's output at once: the live plots must update in place"
        first, last = _png(plots[0][0]), _png(plots[0][-1])
        half = first.shape[1] * 2 // 5  # left: the loss plot; right: the preview grid (width ratios 1 : 1.4)
        assert np.abs(first[:, :half] - last[:, :half]).mean() > 0.5, "the loss plot did not change"
        assert np.abs(first[:, half:] - last[:, half:]).mean() > 0.5, "the preview grid did not change"
        assert len(plots) == 2, "the detail stage (DETAIL_SIZE auto) never showed its loss and previews"
        assert "detail" in nb.output_text(), "the detail stage ran without saying so"

        assert not nb.bad_outputs(), f"error output in 03_train: {nb.bad_outputs()}"


def test_03_train_interrupt_saves_and_says_where_in_one_line(aligned_project, open_notebook, screenshot_on_failure):
    """JupyterLab's interrupt button (■) during training: the cell ends with one line naming the step it saved, and
    no traceback; the run's checkpoint holds that step."""
    from swaplab.model import runs

    data_dir, weights_dir, project = aligned_project
    params = dict(PROJECT=project, PERSON_A="a", PERSON_B="b", RUN="uistop", MODEL="tiny", BATCH_SIZE=4, STEPS=STEPS,
                  TIME_BUDGET_MIN=0.0, PREVIEW_EVERY=1000, LOG_EVERY=2, SAVE_EVERY=STEPS, SAVE_EVERY_MIN=0.0,
                  WARMUP_STEPS=0, DETAIL_SIZE=0, DATA_DIR=str(data_dir), WEIGHTS_DIR=str(weights_dir), SEED=0,
                  INTERACTIVE=True)
    nb = open_notebook("03_train", params)
    with screenshot_on_failure(nb):
        nb.run_all()
        cell = nb.cell("train.train(CONFIG")
        bar = cell.locator(".widget-hprogress").locator("xpath=..")
        end = time.time() + 600
        while not (bar.count() and (m := re.search(r"(\d+)/\d+", bar.first.inner_text())) and int(m.group(1)) >= 6):
            assert time.time() < end and not nb.finished(), f"training never got going: {nb.output_text()[-2000:]}"
            time.sleep(0.2)
        nb.page.locator('.jp-NotebookPanel-toolbar [data-jp-item-name="interrupt"]').first.click()  # the ■ button
        end = time.time() + 120
        while not re.search(r"\[\d+\]", cell.locator(".jp-InputPrompt").inner_text()) or nb.kernel_status() != "idle":
            assert time.time() < end, f"the interrupted cell did not end: {cell.inner_text()[-2000:]}"
            time.sleep(0.2)

        run_dir = weights_dir / project / "uistop"
        saved = runs.read_config(run_dir)["steps_done"]
        line = (f"interrupted by Ctrl-C at step {saved} of {STEPS}: saved {run_dir}; run 03_train again with "
                "RUN='uistop' to continue from there")
        error = cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert [t.strip() for t in error.all_inner_texts()] == [line], cell.inner_text()[-2000:]
        assert saved >= 6 and "Traceback" not in cell.inner_text() and not nb.bad_outputs(), nb.bad_outputs()
        assert runs.has_checkpoint(run_dir) and (run_dir / runs.EXPORT).exists()
