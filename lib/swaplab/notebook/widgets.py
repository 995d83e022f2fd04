"""Optional ipywidgets controls: knobs over notebook parameters, a webcam recorder, and 04_swap's scrubber.

All are shown only when a notebook's ``INTERACTIVE`` is true; a headless
(papermill) run never builds or waits on them. IPython and ipywidgets are
imported inside the functions, so ``import swaplab.notebook.widgets`` works without them.

``parameter_controls(globals(), {"SEED": (0, 100), "LINK": None})`` binds one
widget per parameter: moving it assigns the new value to that variable, and the
cells run after it read the new value.

``webcam_recorder(...)`` records a clip from the webcam and adds it to the
person's sources through ``swaplab.collect.sources.add_recording`` (the same checks and
manifest as every other source). In Colab the browser records (getUserMedia +
MediaRecorder, via ``google.colab.output.eval_js``); in local Jupyter OpenCV
reads camera 0 on the kernel's machine. Neither path can run without a camera
and a browser, so the tests only build the widget.

``scrubber(...)`` is 04_swap's frame slider with the mask, colour and blend controls
over a live original | swapped preview (``swap.preview_frame``), and ``live_preview()``
the small picture that follows a conversion as it runs.
"""

from __future__ import annotations

import base64
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def parameter_controls(namespace: dict, spec: dict[str, Any]):
    """An ``ipywidgets.VBox`` with one control per name in ``spec``, writing back into ``namespace``.

    ``spec[NAME]`` says how to show ``namespace[NAME]``: ``None`` picks from the
    value's type (bool -> checkbox, int/float -> number box, str -> text box,
    list of str -> one entry per line); a ``(min, max)`` or ``(min, max, step)``
    tuple -> slider; a list of choices -> dropdown.
    """
    import ipywidgets as w

    rows = []
    for name, how in spec.items():
        if name not in namespace:
            raise KeyError(f"parameter_controls: {name} is not defined; run the parameters cell first")
        rows.append(_control(w, namespace, name, how))
    return w.VBox(rows)


def _control(w, namespace: dict, name: str, how):
    value = namespace[name]
    from_widget = _same  # most widgets hold the parameter's own type
    if isinstance(how, tuple):
        step = how[2] if len(how) > 2 else (1 if isinstance(value, int) else (how[1] - how[0]) / 100)
        slider = w.IntSlider if isinstance(value, int) and not isinstance(value, bool) else w.FloatSlider
        widget = slider(value=value, min=how[0], max=how[1], step=step)
    elif isinstance(how, list):
        widget = w.Dropdown(options=how, value=value)
    elif isinstance(value, bool):
        widget = w.Checkbox(value=value, indent=False)
    elif isinstance(value, int):
        widget = w.IntText(value=value)
    elif isinstance(value, float):
        widget = w.FloatText(value=value)
    elif isinstance(value, list):
        widget = w.Textarea(value="\n".join(map(str, value)), rows=min(8, len(value) + 1))
        from_widget = _lines
    else:
        widget = w.Text(value=str(value))
    widget.description = name
    widget.style = {"description_width": "initial"}

    def on_change(change):
        namespace[name] = from_widget(change["new"])

    widget.observe(on_change, names="value")
    return widget


def _same(value):
    return value


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def webcam_recorder(data_dir: str | Path, project: str, person: str, seconds: float = 5.0, consent_note: str = ""):
    """A record button: capture ``seconds`` of webcam video and add it as a source of ``person``."""
    import ipywidgets as w

    from swaplab.collect import sources as collect
    from swaplab.core import paths

    paths.sources_dir(data_dir, project, person)  # a bad PERSON fails now, not after recording
    length = w.FloatSlider(value=seconds, min=1, max=60, step=1, description="seconds")
    button = w.Button(description="Record", icon="video-camera", button_style="danger")
    out = w.Output()

    def on_click(_):
        button.disabled = True
        with out:
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    print(f"recording {length.value:.0f} s ...")
                    clip = record_clip(Path(tmp), length.value)
                    entry = collect.add_recording(data_dir, project, person, clip, consent_note)
                print(f"added {entry['file']} ({entry['duration']:.1f} s, {entry['resolution']})")
            except Exception as e:  # noqa: BLE001 - a widget callback has no caller to raise to; show it
                print(f"recording failed: {e}")
            finally:
                button.disabled = False

    button.on_click(on_click)
    return w.VBox([w.HBox([length, button]), out])


def record_clip(folder: Path, seconds: float) -> Path:
    """Record ``seconds`` from the webcam into ``folder``; returns the clip (WebM in Colab, mp4 locally)."""
    if "google.colab" in sys.modules:
        return _record_colab(folder, seconds)
    return _record_local(folder, seconds)


# Runs in the browser: record the camera (and microphone if allowed) and hand the
# WebM back base64-encoded, the only way eval_js can return bytes.
_COLAB_JS = """
async function swaplabRecord(ms) {
  const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
  const preview = document.createElement('video');
  preview.srcObject = stream; preview.muted = true; preview.width = 320;
  document.body.appendChild(preview); await preview.play();
  const rec = new MediaRecorder(stream), chunks = [];
  rec.ondataavailable = e => chunks.push(e.data);
  const stopped = new Promise(r => rec.onstop = r);
  rec.start(); await new Promise(r => setTimeout(r, ms)); rec.stop(); await stopped;
  stream.getTracks().forEach(t => t.stop()); preview.remove();
  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
  let s = ''; for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return btoa(s);
}
"""


def _record_colab(folder: Path, seconds: float) -> Path:
    from google.colab.output import eval_js

    data = eval_js(_COLAB_JS + f"swaplabRecord({int(seconds * 1000)})", timeout_sec=seconds + 60)
    clip = folder / "webcam.webm"
    clip.write_bytes(base64.b64decode(data))
    return clip


def _record_local(folder: Path, seconds: float) -> Path:
    """Camera 0 of the kernel's machine through OpenCV (no sound), written with ``swaplab.core.video.VideoWriter``."""
    import cv2

    from swaplab.core.video import VideoWriter

    cap = cv2.VideoCapture(0)
    if not cap.isOpened():
        raise RuntimeError("no webcam found (OpenCV camera 0): connect one, or add a recorded file to SOURCES")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0  # many drivers report 0
    clip = folder / "webcam.mp4"
    try:
        with VideoWriter(clip, fps) as writer:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                ok, bgr = cap.read()
                if not ok:
                    raise RuntimeError("the webcam stopped sending frames")
                writer.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return clip


def scrubber(input_path: str | Path, model, options, namespace: dict | None = None, source=None):
    """An ipywidgets panel: a frame slider and the mask / colour / blend controls over a live original | swapped preview.

    Every change re-renders the preview through ``preview_frame`` and, when
    ``namespace`` (a notebook's ``globals()``) is given, writes MASK_ERODE, MASK_BLUR,
    SHARPEN, COLOR, BLEND, MASK and DETAIL back into it: the values a headless run would use.
    Beside the frames, each swapped face's aligned crop shows its paste mask
    (green) and the hair cut out of it (red, MASK="hull-hair"). ``options``: a
    ``swap.SwapOptions``; ``source`` as in ``swap.convert``.
    """
    import dataclasses

    import cv2
    import ipywidgets as w
    import numpy as np

    from swaplab.core import video
    from swaplab.face import blend, masks
    from swaplab.swap.pipeline import preview_frame

    info = video.probe(input_path)
    cache: dict = {}
    frame = w.IntSlider(int(options.start * info.fps), 0, max(info.frame_count - 1, 0), description="frame")
    erode = w.IntSlider(options.mask_erode, 0, 16, description="mask erode")
    blur = w.IntSlider(options.mask_blur, 0, 16, description="mask blur")
    sharp = w.FloatSlider(options.sharpen, min=0.0, max=2.0, step=0.1, description="sharpen")
    color = w.Dropdown(options=list(blend.COLOR_MODES), value=options.color, description="colour")
    mode = w.Dropdown(options=list(blend.BLEND_MODES), value=options.blend, description="blend")
    mask = w.Dropdown(options=list(masks.MASKS), value=options.mask, description="mask")
    # the run's detail stage on or off: the autoencoder's face stretched, against the same face drawn again at 256 px
    has_detail = getattr(model, "detail", None) is not None
    detail = w.Checkbox(value=options.detail and has_detail, description="detail stage", disabled=not has_detail)
    image = w.Image(format="jpeg")

    def update(_=None) -> None:
        chosen = {"MASK_ERODE": erode.value, "MASK_BLUR": blur.value, "SHARPEN": sharp.value, "COLOR": color.value,
                  "BLEND": mode.value, "MASK": mask.value, "DETAIL": detail.value if has_detail else options.detail}
        if namespace is not None:
            namespace.update(chosen)
        o = dataclasses.replace(options, **{k.lower(): v for k, v in chosen.items()})
        original, swapped = preview_frame(input_path, model, frame.value, o, cache, source=source)
        panels = [original, swapped] + [_mask_panel(cache["pipeline"], job, original.shape[0]) for job in cache["jobs"]]
        image.value = cv2.imencode(".jpg", cv2.cvtColor(np.hstack(panels), cv2.COLOR_RGB2BGR))[1].tobytes()

    for control in (frame, erode, blur, sharp, color, mode, mask, detail):
        control.observe(update, names="value")
    update()
    return w.VBox([frame, w.HBox([erode, blur, sharp]), w.HBox([color, mode, mask, detail]), image])


def live_preview(height: int = 180):
    """An ``on_preview`` for ``swap.convert`` in a notebook: shows a small original | swapped image, refreshed in place."""
    import cv2
    import ipywidgets as w
    import numpy as np
    from IPython.display import display

    image = w.Image(format="jpeg")
    shown = []

    def show(original: np.ndarray, swapped: np.ndarray) -> None:
        pair = np.hstack([original, swapped])
        width = int(round(pair.shape[1] * height / pair.shape[0]))
        small = cv2.resize(pair, (width, height), interpolation=cv2.INTER_AREA)
        image.value = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR))[1].tobytes()
        if not shown:
            display(image)
            shown.append(True)

    return show


def _mask_panel(pipe, job, height: int):
    """(height, height, 3) uint8: a face's aligned crop (``swap.FaceJob``) with its paste mask and cut-out hair tinted."""
    import cv2

    from swaplab.face import masks

    tinted = masks.overlay(job.ref, pipe.mask(job), job.hair)  # the input's face at the size the swap is drawn
    return cv2.resize(tinted, (height, height), interpolation=cv2.INTER_NEAREST)
