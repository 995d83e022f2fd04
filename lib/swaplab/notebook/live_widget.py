"""07_live's widget: the browser's camera -> the kernel's ``live.LiveSession`` -> original | swapped, with controls.

The camera half is an anywidget (``LiveCamera``): its JavaScript asks for the camera (getUserMedia),
draws each frame into a canvas at most 640x360, and sends it as a JPEG in a custom message over the
widget's comm (a binary buffer, no base64). It sends the next frame only when the answer to the one
before has come back, so at most one frame is in flight and none queue up: a slow kernel means fewer
frames, never older ones. Answers (one JPEG of original | swapped, with the frame's id, its capture time
echoed and the kernel's ms per stage) are shown at once; the readout is frames shown per second over the
last 2 s and the median latency (capture to shown) of the last 30 frames, synced back to the kernel
(``fps``, ``latency_ms``, ``frames_shown``) once a second.

The controls (direction, DETAIL, mask, colour, smoothing, "show the decoder's face", record) are plain
ipywidgets; each change goes to ``LiveSession.set`` and applies from the next frame.

Failures are one line each, never a traceback: no camera, a denied permission, a page that may not use a
camera (http on another host), a camera in use (the JavaScript's status line, also in ``error``); no face in
view (the kernel's answer); a run without a detail stage (a note under the controls); a bad control value or
a recording that could not be written (the panel's message line).

IPython, ipywidgets and anywidget are imported inside the functions (``lib/`` never needs them to import).
"""

from __future__ import annotations

import functools

_ESM = r"""
const SAY = {
  NotAllowedError: "camera permission denied: allow the camera for this page (the camera icon in the address bar), then press Start camera",
  SecurityError: "camera permission denied: allow the camera for this page (the camera icon in the address bar), then press Start camera",
  NotFoundError: "no camera found: connect one, then press Start camera",
  OverconstrainedError: "no camera found that can send video: connect one, then press Start camera",
  NotReadableError: "the camera is in use by another program, or failed: close that program, then press Start camera",
  AbortError: "the camera is in use by another program, or failed: close that program, then press Start camera",
};

function render({ model, el }) {
  const box = document.createElement("div"), bar = document.createElement("div");
  const button = document.createElement("button"), readout = document.createElement("span");
  const img = document.createElement("img"), status = document.createElement("div");
  const video = document.createElement("video"), canvas = document.createElement("canvas");
  box.className = "swaplab-live"; bar.className = "swaplab-live-bar";
  button.className = "swaplab-live-start jupyter-button"; button.textContent = "Start camera";
  readout.className = "swaplab-live-readout"; readout.textContent = "camera off";
  img.className = "swaplab-live-frame"; img.alt = "original | swapped";
  status.className = "swaplab-live-status";
  video.muted = true; video.playsInline = true; video.style.display = "none";
  bar.append(button, readout); box.append(bar, img, status, video); el.append(box);

  let stream = null, running = false, inflight = false, sentAt = 0, nextId = 0, shown = 0, lastSync = 0, url = null;
  const times = [], latencies = [];
  const maxW = model.get("max_width"), maxH = model.get("max_height"), quality = model.get("quality") / 100;

  const say = (text, kind) => { status.textContent = text || ""; status.dataset.kind = kind || ""; };
  const sync = (values) => { model.set(values); model.save_changes(); };
  function stop(text) {
    running = false; inflight = false;
    if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
    button.textContent = "Start camera"; readout.textContent = "camera off";
    sync({ running: false });
    if (text !== undefined) say(text);
  }
  function fail(text) { stop(); say(text, "error"); sync({ error: text }); }

  async function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return fail("this page may not use a camera: open Jupyter over https, or at http://localhost on the camera's machine");
    }
    say("asking for the camera ...");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: maxW }, height: { ideal: maxH } }, audio: false });
    } catch (e) {
      return fail(SAY[e.name] || `the camera did not start (${e.name}): ${e.message}`);
    }
    video.srcObject = stream;
    try { await video.play(); } catch (e) { return fail(`the camera's video did not play (${e.name}): ${e.message}`); }
    running = true; inflight = false; times.length = 0; latencies.length = 0;
    button.textContent = "Stop camera"; say("");
    sync({ running: true, error: "" });
    send();
  }

  async function send() {
    if (!running || inflight) return;
    const vw = video.videoWidth, vh = video.videoHeight;
    if (!vw || !vh) { setTimeout(send, 20); return; }
    const s = Math.min(1, maxW / vw, maxH / vh);
    const w = Math.max(2, 2 * Math.floor((vw * s) / 2)), h = Math.max(2, 2 * Math.floor((vh * s) / 2));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    canvas.getContext("2d").drawImage(video, 0, 0, w, h);
    const t = performance.now();
    inflight = true; sentAt = t;
    const blob = await new Promise((r) => canvas.toBlob(r, "image/jpeg", quality));
    const buf = await blob.arrayBuffer();
    if (!running) { inflight = false; return; }
    model.send({ type: "frame", id: ++nextId, t, width: w, height: h }, undefined, [buf]);
  }

  function median(xs) { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : 0; }

  async function answer(msg, buffers) {
    if (buffers && buffers.length) {
      const next = URL.createObjectURL(new Blob([buffers[0]], { type: "image/jpeg" }));
      img.src = next;
      try { await img.decode(); } catch (e) { /* shown when it loads */ }
      if (url) URL.revokeObjectURL(url);
      url = next;
      const now = performance.now();
      shown += 1;
      latencies.push(now - msg.t); if (latencies.length > 30) latencies.shift();
      times.push(now); while (times.length > 2 && now - times[0] > 2000) times.shift();
      const fps = times.length > 1 ? (times.length - 1) / ((now - times[0]) / 1000) : 0, lat = median(latencies);
      readout.textContent = `${fps.toFixed(1)} fps · latency ${lat.toFixed(0)} ms · kernel ${Number(msg.kernel_ms).toFixed(0)} ms`
        + ` · dropped ${msg.dropped}` + (msg.recording ? ` · REC ${msg.recording} frames` : "");
      if (now - lastSync > 1000) { sync({ fps, latency_ms: lat, frames_shown: shown }); lastSync = now; }
    }
    if (running) say(msg.message || "", msg.message ? "warning" : "");
    inflight = false;
    send();
  }

  model.on("msg:custom", (msg, buffers) => {
    if (msg.type === "frame") answer(msg, buffers);
    else if (msg.type === "stop") stop(msg.text);
  });
  button.addEventListener("click", () => (running ? stop("") : start()));
  const watchdog = setInterval(() => {
    if (running && inflight && performance.now() - sentAt > 5000) {
      say("the kernel has not answered for 5 s: is it running another cell? (frames resume when it is free)", "warning");
      if (performance.now() - sentAt > 15000) { inflight = false; send(); }  // the answer was lost (a restarted kernel)
    }
  }, 1000);
  return () => { clearInterval(watchdog); stop(); if (url) URL.revokeObjectURL(url); };
}
export default { render };
"""

_CSS = """
.swaplab-live { display: flex; flex-direction: column; gap: 4px; }
.swaplab-live-bar { display: flex; align-items: center; gap: 1em; }
.swaplab-live-readout { font-family: monospace; }
.swaplab-live-frame { display: block; max-width: 100%; min-height: 32px; background: #111; }
.swaplab-live-status { min-height: 1.3em; }
.swaplab-live-status[data-kind="error"] { color: #c62828; }
.swaplab-live-status[data-kind="warning"] { color: #a15c00; }
"""


@functools.cache
def camera_class():
    """The ``LiveCamera`` anywidget class (made on first use, so importing this module needs no anywidget)."""
    import anywidget
    import traitlets as t

    class LiveCamera(anywidget.AnyWidget):
        """The browser's camera: JPEG frames out over the comm, answers shown, fps and latency in the readout."""

        _esm = _ESM
        _css = _CSS
        max_width = t.Int(640).tag(sync=True)
        max_height = t.Int(360).tag(sync=True)
        quality = t.Int(80).tag(sync=True)  # JPEG quality of the frames sent, in %
        running = t.Bool(False).tag(sync=True)  # the camera is on (set by the browser)
        error = t.Unicode("").tag(sync=True)  # the camera's failure, one line (set by the browser)
        fps = t.Float(0.0).tag(sync=True)  # frames shown per second (set by the browser, each second)
        latency_ms = t.Float(0.0).tag(sync=True)  # median ms from capture to shown
        frames_shown = t.Int(0).tag(sync=True)

    return LiveCamera


class LivePanel:
    """07_live's panel: the controls, the camera (``LiveCamera``), a note line and a message line over a ``LiveSession``.

    ``LivePanel(config)`` loads ``config.run_dir`` (or uses ``model``, a loaded ``detail.Cascade``); showing it in a
    notebook (the cell's last line, or ``display``) shows ``widget``. ``close()`` stops the session (and a recording).
    """

    def __init__(self, config, model=None):
        import ipywidgets as w

        from swaplab.core.paths import DIRECTIONS
        from swaplab.face import blend, masks
        from swaplab.swap import live

        self.session = live.LiveSession(model if model is not None else config.run_dir, config, on_answer=self._answer)
        self.camera = camera_class()(quality=config.jpeg_quality, max_width=live.MAX_WIDTH, max_height=live.MAX_HEIGHT)
        self.camera.on_msg(self._message)
        o, style = self.session.options, {"description_width": "initial"}
        has = self.session.has_detail
        self.controls = {
            "direction": w.Dropdown(options=sorted(DIRECTIONS), value=o.direction, description="direction", style=style),
            "detail": w.Checkbox(value=o.detail and has, description="DETAIL" if has else "DETAIL (none in this run)",
                                 disabled=not has, indent=False),
            "mask": w.Dropdown(options=list(masks.MASKS), value=o.mask, description="mask", style=style),
            "color": w.Dropdown(options=list(blend.COLOR_MODES), value=o.color, description="colour", style=style),
            "smoothing": w.FloatSlider(value=o.smoothing, min=0.0, max=5.0, step=0.1, description="smoothing (Hz)",
                                       style=style),
            "show_decoder": w.Checkbox(value=self.session.show_decoder, description="show the decoder's face", indent=False),
        }
        for name, control in self.controls.items():
            control.observe(functools.partial(self._control, name), names="value")
        self.record = w.ToggleButton(value=False, description="Record", icon="circle", button_style="danger",
                                     tooltip="write the swapped half, labelled and tagged synthetic, to an mp4")
        self.record.observe(self._record, names="value")
        self.note = w.HTML("<br>".join(self.session.notes()))
        self.message = w.HTML("")
        c = self.controls
        self.widget = w.VBox([w.HBox([c["direction"], c["detail"], c["mask"], c["color"]]),
                              w.HBox([c["smoothing"], c["show_decoder"], self.record]), self.camera, self.note, self.message])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _message(self, _widget, content, buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "frame" and buffers:
            self.session.submit(bytes(buffers[0]), {k: content.get(k) for k in ("id", "t", "width", "height")})

    def _answer(self, frame) -> None:
        """From the session's worker thread: send the answer to the browser."""
        self.camera.send({"type": "frame", **frame.meta}, [frame.jpeg] if frame.jpeg is not None else None)

    def _control(self, name: str, change) -> None:
        try:
            self.session.set(**{name: change["new"]})
            self.message.value = ""
        except ValueError as e:
            self.message.value = _line(str(e), "error")
        self.note.value = "<br>".join(self.session.notes())

    def _record(self, change) -> None:
        try:
            if change["new"]:
                path = self.session.start_recording()
                self.record.description = "Stop recording"
                self.message.value = _line(f"recording to {path} ...")
                return
            self.record.description = "Record"
            path, frames, seconds = self.session.stop_recording()
            self.message.value = _line(f"recorded {path} ({seconds:.1f} s, {frames} frames swapped, labelled "
                                       f"{self.session.options.label!r}, tagged synthetic)" if path else
                                       "nothing recorded: no frame came back while recording (is the camera on?)")
        except Exception as e:  # noqa: BLE001 - a widget callback has no caller to raise to: one line
            self.message.value = _line(f"recording failed: {type(e).__name__}: {e}", "error")

    def close(self) -> None:
        """Stop the camera in the browser, finish a recording and free the session."""
        try:
            self.camera.send({"type": "stop", "text": "the live session was closed"})
        finally:
            self.session.close()


def _line(text: str, kind: str = "") -> str:
    import html

    color = {"error": "#c62828", "warning": "#a15c00"}.get(kind, "inherit")
    return f'<span class="swaplab-live-message" style="color:{color}">{html.escape(text)}</span>'
