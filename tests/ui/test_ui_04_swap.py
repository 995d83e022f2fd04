"""04_swap with INTERACTIVE=True in JupyterLab: the scrubber's frame slider and its colour and blend
dropdowns each redraw the original | swapped preview, and no cell prints an error."""

import time

import pytest

from swaplab.train import testing


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """weights/uiswap/tiny: the "tiny" model trained 2 steps on synthetic faces (enough to load and swap)."""
    root = tmp_path_factory.mktemp("ui04")
    testing.tiny_run(root, "uiswap")
    return root


def _changes(image, before: str, timeout: float = 60) -> str:
    """Wait until the preview's source differs from ``before``; return the new one."""
    end = time.time() + timeout
    while time.time() < end:
        now = image.get_attribute("src")
        if now and now != before:
            return now
        time.sleep(0.2)
    raise AssertionError(f"the scrubber's preview did not redraw within {timeout:.0f} s")


def test_04_swap_scrubber_redraws(tiny_run, open_notebook, screenshot_on_failure):
    params = {"PROJECT": "uiswap", "RUN": "tiny", "INPUT": "samples/grid/s1/bbaf2n.mpg", "DIRECTION": "a2b",
              "DURATION": 0.4, "BATCH_SIZE": 4, "DATA_DIR": str(tiny_run / "data"),
              "WEIGHTS_DIR": str(tiny_run / "weights"), "INTERACTIVE": True,
              "TARGET": "largest"}  # the tiny project has no face sets to pick a person by
    nb = open_notebook("04_swap", params)
    with screenshot_on_failure(nb):
        nb.run_all()
        nb.wait_finished(240)
        panel = nb.cell("widgets.scrubber(").locator(".widget-vbox").first
        image = panel.locator("img").first
        first = _changes(image, "")  # drawn once when shown

        readout = panel.locator(".widget-slider", has_text="frame").locator(".widget-readout").first
        readout.click()
        readout.press("Control+a")
        readout.type("40")
        readout.press("Enter")
        moved = _changes(image, first)

        dropdowns = {d.locator("label").inner_text().strip(): d.locator("select")
                     for d in panel.locator(".widget-dropdown").all()}
        assert {"colour", "blend"} <= set(dropdowns), f"scrubber dropdowns: {sorted(dropdowns)}"
        dropdowns["colour"].select_option("none")
        recoloured = _changes(image, moved)
        dropdowns["blend"].select_option("seamless")
        _changes(image, recoloured)

        assert not nb.bad_outputs(), f"error output in 04_swap: {nb.bad_outputs()}"
