"""07_live in JupyterLab with a camera: Chromium's fake camera plays a GRID clip (640x360, made with ffmpeg), the
live widget sends its frames to the kernel and shows original | swapped; the fps readout rises above a floor, the
run without a detail stage says so in one line, a recording is a playable mp4, labelled and tagged synthetic, and
a camera the browser denies is one line."""

import re
import subprocess
import time

import numpy as np
import pytest

from swaplab import SYNTHETIC_TAG
from swaplab.core import assets, video
from swaplab.face import blend
from swaplab.swap import live
from swaplab.train import testing

FPS_FLOOR = 3.0  # frames shown per second in the widget's readout (the tiny run does ~25 on 2 idle cores)
CLIP = "samples/grid/s1/bbaf2n.mpg"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """weights/uilive/tiny: the "tiny" model trained 2 steps on synthetic faces (no detail stage)."""
    root = tmp_path_factory.mktemp("ui07")
    testing.tiny_run(root, "uilive")
    return root


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory):
    """The GRID clip as a 640x360 .y4m (the face pillarboxed, not stretched): Chromium plays it, looping, as a camera."""
    out = tmp_path_factory.mktemp("camera") / "grid_640x360.y4m"
    subprocess.run([video.ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-i", str(assets.fetch(CLIP, progress=False)),
                    "-vf", "scale=450:360,pad=640:360:(ow-iw)/2:0,setsar=1", "-r", "25", "-pix_fmt", "yuv420p", str(out)],
                   check=True)
    return out


@pytest.fixture(scope="module")
def browser(browser, chromium_path, fake_camera):
    """A Chromium of its own (the session's Playwright) whose camera is ``fake_camera``. The camera is allowed per
    page (``grant_permissions``), not by ``--use-fake-ui-for-media-stream``, which would accept every request and
    leave a denied camera untestable."""
    b = browser.browser_type.launch(executable_path=chromium_path, headless=True, args=[
        "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={fake_camera}"])
    yield b
    b.close()


def _wait(what: str, check, timeout: float):
    end = time.time() + timeout
    while time.time() < end:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def _label_matches(frame: np.ndarray, label: str) -> float:
    """Mean abs difference (grey levels) in the label's box between ``frame`` and the mark ``blend.put_label`` draws."""
    mark = np.full_like(frame, 128)
    blend.put_label(mark, label)
    box = np.all(mark != 128, axis=2)  # the mark's box: its dark background and white text
    ys, xs = np.nonzero(box)
    h, w = ys.max() + 1, xs.max() + 1
    return float(np.abs(frame[:h, :w].astype(float) - mark[:h, :w].astype(float)).mean())


def test_07_live_camera_swaps_readout_and_recording(tiny_run, open_notebook, screenshot_on_failure):
    params = {"PROJECT": "uilive", "RUN": "tiny", "DIRECTION": "a2b", "DATA_DIR": str(tiny_run / "data"),
              "WEIGHTS_DIR": str(tiny_run / "weights"), "INTERACTIVE": True, "RECORD_FPS": 10.0}
    nb = open_notebook("07_live", params)
    with screenshot_on_failure(nb):
        nb.run_all()
        nb.wait_finished(180)
        panel = nb.cell("live_widget.LivePanel(")
        # a run without a detail stage: one line says so, and the DETAIL box cannot be ticked
        assert "this run has no detail stage" in panel.locator(".widget-html").first.inner_text()
        start, status = panel.locator(".swaplab-live-start"), panel.locator(".swaplab-live-status")
        # the camera not allowed (headless Chromium denies what was not granted, as a user's "Block" does): one line
        start.click()
        denied = _wait("no line for the denied camera", lambda: "denied" in status.inner_text() and status.inner_text(), 15)
        assert denied.startswith("camera permission denied: allow the camera") and "\n" not in denied.strip(), denied
        nb.page.context.grant_permissions(["camera"], origin=re.match(r"https?://[^/]+", nb.page.url).group(0))
        start.click()
        readout, frame = panel.locator(".swaplab-live-readout"), panel.locator("img.swaplab-live-frame")
        # swapped frames arrive: original | swapped, each 640x360
        size = _wait("no answer from the kernel was shown", lambda: frame.evaluate(
            "img => img.naturalWidth ? [img.naturalWidth, img.naturalHeight] : null"), 60)
        assert size == [2 * live.MAX_WIDTH, live.MAX_HEIGHT], size

        def fps():
            m = re.match(r"([\d.]+) fps · latency (\d+) ms", readout.inner_text())
            return m and float(m.group(1)) >= FPS_FLOOR and (float(m.group(1)), int(m.group(2)))

        rate, latency = _wait(f"the readout never showed {FPS_FLOOR} fps (it says {readout.inner_text()!r})", fps, 30)
        line = status.inner_text()
        assert "no face" not in line and "camera" not in line, line  # the clip's face is found; the camera runs

        record = panel.locator("button.widget-toggle-button")
        record.click()
        _wait("the recording did not start", lambda: re.search(r"REC (\d+) frames", readout.inner_text()) and
              int(re.search(r"REC (\d+) frames", readout.inner_text()).group(1)) >= 10, 30)
        record.click()
        message = panel.locator(".swaplab-live-message")
        text = _wait("no 'recorded' line", lambda: "recorded" in message.inner_text() and message.inner_text(), 30)
        path = re.search(r"recorded (\S+\.mp4) \(", text).group(1)
        panel.locator(".swaplab-live-start").click()  # stop the camera
        assert not nb.bad_outputs(), f"error output in 07_live: {nb.bad_outputs()}"

    info = video.probe(path)  # playable: ffprobe reads it and every frame decodes
    frames = [f.image for f in video.FrameReader(path)]
    assert info.fps == 10.0 and len(frames) == info.frame_count >= 10 and (info.width, info.height) == (640, 360)
    assert info.tags["comment"] == SYNTHETIC_TAG and info.tags["description"] == SYNTHETIC_TAG
    assert _label_matches(frames[0], "SYNTHETIC") < 25  # the visible mark, as 04_swap draws it
    print(f"07_live in Chromium: {rate:.1f} fps, latency {latency} ms; recorded {len(frames)} frames")
