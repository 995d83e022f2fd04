"""07_live's kernel side (``swaplab.swap.live``) on real GRID frames as a 640x360 camera gives them, with real tiny runs
(one with a detail stage, one without), the real landmarker and ffmpeg: each answer is 04_swap's own pipeline output,
frames are dropped and never queued, the failures are one line, and a recording is labelled, tagged and real time."""

from __future__ import annotations

import dataclasses
import re
import time

import cv2
import numpy as np
import pytest

from swaplab import SYNTHETIC_TAG
from swaplab.core import assets, video
from swaplab.face import blend
from swaplab.swap import live
from swaplab.swap import pipeline as swap
from swaplab.train import testing
from swaplab.train.loop import TrainConfig, train

CLIP = "samples/grid/s1/bbir8p.mpg"  # 360x288, 25 fps: the s1 speaker facing the camera


@pytest.fixture(scope="module")
def frames():
    """30 frames of the clip as a 640x360 camera sends them (pillarboxed)."""
    clip = assets.fetch(CLIP, progress=False)
    return [live.as_camera(f.image) for f in video.FrameReader(clip, duration=1.2)]


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    swap.configure_threads()
    root = tmp_path_factory.mktemp("live_plain")
    testing.tiny_run(root, "lv")
    return root


@pytest.fixture(scope="module")
def detail_run(tmp_path_factory):
    """The tiny model (32 px) with a detail stage at 128 px, 2 steps each, on synthetic faces."""
    root = tmp_path_factory.mktemp("live_detail")
    big = [testing.synthetic_faces(8, 128, person=p) for p in (0, 1)]
    small = [(np.stack([cv2.resize(i, (32, 32), interpolation=cv2.INTER_AREA) for i in im]),
              np.stack([cv2.resize(m, (32, 32), interpolation=cv2.INTER_NEAREST) for m in ma])) for im, ma in big]
    train(TrainConfig(project="lv", run="tiny", model="tiny", batch_size=4, steps=2, detail_steps=2, detail_size=128,
                      log_every=1, preview_every=1000, save_every=1000, data_dir=str(root / "data"),
                      weights_dir=str(root / "weights")), data=tuple(small), detail_data=tuple(big))
    return root


def config(root, **kw) -> live.LiveConfig:
    kw = {"project": "lv", "run": "tiny", "interactive": True, **kw}
    return live.LiveConfig(data_dir=str(root / "data"), weights_dir=str(root / "weights"), **kw).validate()


def jpeg(image) -> bytes:
    return live.encode_jpeg(image, 95)


def test_config_names_each_bad_parameter(plain_run):
    for kw, message in ((dict(label=""), "LABEL='': a live swap always carries a visible mark"),
                        (dict(direction="a2c"), "DIRECTION='a2c'"), (dict(color="warm"), "COLOR='warm'"),
                        (dict(jpeg_quality=10), "JPEG_QUALITY=10"), (dict(record_fps=0), "RECORD_FPS=0"),
                        (dict(run="nope"), "holds no trained run: run 03_train"),
                        (dict(interactive=False, stand_in="nope.mp4"), "STAND_IN='nope.mp4'")):
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            config(plain_run, **kw)
    c = config(plain_run)
    assert c.has_detail is False and c.output_dir == plain_run / "data" / "lv" / "output"


def test_each_answer_is_the_pipelines_own_frame(plain_run, frames):
    """The session's answer is what 04_swap's FramePipeline makes of the same frames, labelled, original | swapped."""
    c = config(plain_run)
    session = live.LiveSession(c.run_dir, c)
    pipe = swap.FramePipeline(session.model, live.live_options(c.options()), mode="video")
    try:
        for i, image in enumerate(frames[:6]):
            answer = session.swap_image(image, {"id": i, "t": 1000 + 40 * i})
            jobs = pipe.locate(image, 0.04 * i, i + 1)
            expected = pipe.compose(image, jobs, pipe.swap_faces(jobs))
            assert np.array_equal(answer.pair, expected), i  # tracking and smoothing included, frame after frame
            assert answer.meta["faces"] == 1 and answer.meta["message"] == "" and answer.meta["id"] == i
        assert answer.pair.shape == (360, 1280, 3) and np.array_equal(answer.pair[:, :640], image)
        face = np.abs(answer.pair[100:300, 640 + 230:640 + 410].astype(int) - image[100:300, 230:410]).mean()
        assert face > 5, face  # the face was swapped
        decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(answer.jpeg, np.uint8), 1), cv2.COLOR_BGR2RGB)
        assert np.abs(decoded.astype(int) - answer.pair).mean() < 3  # the JPEG sent is that frame
        assert set(answer.meta["ms"]) == set(live.STAGES) and answer.meta["ms"]["landmarks"] > 0
        label = answer.pair.copy()
        blend.put_label(label[:, 640:], "SYNTHETIC")
        assert np.array_equal(label, answer.pair)  # the mark is there already
    finally:
        pipe.close()
        session.close()


def test_failures_are_one_line_each(plain_run, frames):
    c = config(plain_run)
    session = live.LiveSession(c.run_dir, c)
    try:
        assert session.notes() == [live.NO_DETAIL]  # this run has no detail stage
        bad = session.process(b"not a jpeg", {"id": 1})
        assert bad.jpeg is None and bad.meta == {"id": 1, "message": live.BAD_JPEG}
        wall = np.full((360, 640, 3), 90, np.uint8)  # no face in view
        empty = session.process(jpeg(wall), {"t": 0})
        assert empty.meta["faces"] == 0 and empty.meta["message"] == live.NO_FACE
        assert np.array_equal(empty.pair[40:, 640:], empty.pair[40:, :640])  # passed through, only the label added
        for name, value in (("color", "warm"), ("direction", "x2y"), ("show_decoder", 1), ("sharpen", 1.0)):
            before = session.options
            with pytest.raises(ValueError, match=name.upper() if name != "sharpen" else "live controls are"):
                session.set(**{name: value})
            assert session.options is before  # nothing changed
        session.set(color="none", smoothing=0.0)
        assert session.options.color == "none" and session.process(jpeg(frames[0])).meta["faces"] == 1
    finally:
        session.close()
    assert session.process(jpeg(frames[0])).meta["message"] == "the live session is closed"


def test_frames_are_dropped_never_queued(plain_run, frames):
    """Ten frames submitted at once: the worker swaps the one it is given first and then only the newest."""
    c = config(plain_run)
    answers = []
    session = live.LiveSession(c.run_dir, c, on_answer=answers.append)
    try:
        session.process(jpeg(frames[0]), {"t": 0})  # the pipeline built, the model traced
        data = [jpeg(f) for f in frames[:10]]
        for i, d in enumerate(data):
            session.submit(d, {"id": i, "t": 100 + i})
        end = time.time() + 60
        while (not answers or answers[-1].meta["id"] != 9) and time.time() < end:
            time.sleep(0.01)
        ids = [a.meta["id"] for a in answers]
        assert ids[-1] == 9 and ids == sorted(ids) and len(ids) <= 2, ids
        assert session.received == 10 and session.dropped == 10 - len(ids) == answers[-1].meta["dropped"]
    finally:
        session.close()


def test_detail_stage_on_off_and_the_decoders_face(detail_run, frames):
    c = config(detail_run, show_decoder=False)
    assert c.has_detail
    session = live.LiveSession(c.run_dir, c)
    try:
        assert session.notes() == [] and session.model.output_size == 128
        on = session.swap_image(frames[0], {"t": 0})
        assert on.meta["detail"] and on.meta["ms"]["detail"] > 0
        assert on.pair[-120:, -95:].max() < 30  # the camera's black bar (pillarbox) at the bottom right
        session.set(show_decoder=True)
        corner = session.swap_image(frames[1], {"t": 40}).pair[-120:, -95:]  # now the detail stage's face
        assert corner.mean() > 30
        step, close = live.open_pipeline(session.model)
        try:
            out = step(frames[2], 0.0, dataclasses.replace(session.options, detail=True))
            assert out.detail and out.decoder[0].shape == (32, 32, 3) and out.drawn[0].shape == (128, 128, 3)
            want = swap.FramePipeline(session.model, session.options, mode="video")
            try:
                jobs = want.locate(frames[2], 0.0, 1)
                decoder = session.model.autoencoder.swap(np.stack([j.crop for j in jobs]), to="b")
            finally:
                want.close()
            assert np.allclose(out.decoder[0], decoder[0], atol=1e-5)  # the decoder's own face, before the detail stage
            off = step(frames[3], 0.04, dataclasses.replace(session.options, detail=False))
            assert not off.detail and off.drawn[0].shape == (32, 32, 3) and off.decoder[0] is off.drawn[0]
        finally:
            close()
        session.set(detail=False, show_decoder=False)
        assert not session.swap_image(frames[4], {"t": 120}).meta["detail"]
    finally:
        session.close()


def test_the_inset_shows_each_face_at_a_third_of_the_height_captioned():
    pair = np.zeros((360, 1280, 3), np.uint8)
    live.draw_inset(pair, np.full((32, 32, 3), 0.5, np.float32), np.full((128, 128, 3), 1.0, np.float32))
    assert np.count_nonzero(pair[:240].any(axis=2)) == 0 and np.count_nonzero(pair[:, :1040].any(axis=2)) == 0
    decoder, detail = pair[240:, 1040:1160], pair[240:, 1160:]
    assert np.median(decoder) == 128 and np.median(detail) == 255
    assert (decoder[-12:] != 128).any() and (detail[-12:] != 255).any()  # the captions ("decoder 32px", "detail 128px")
    alone = np.zeros((360, 1280, 3), np.uint8)
    live.draw_inset(alone, np.full((32, 32, 3), 0.5, np.float32), None)  # no detail stage: the decoder's face alone
    assert np.median(alone[240:, 1160:]) == 128 and not alone[:, :1160].any()


def test_recording_is_labelled_tagged_and_plays_in_real_time(plain_run, frames, tmp_path):
    c = config(plain_run, record_fps=10.0)
    session = live.LiveSession(c.run_dir, c)
    try:
        assert session.stop_recording() == (None, 0, 0.0)  # none running
        path = session.start_recording(tmp_path / "live.mp4")
        with pytest.raises(RuntimeError, match="already recording"):
            session.start_recording()
        answers = [session.swap_image(f, {"t": 40 * i}) for i, f in enumerate(frames[:25])]  # 1 s at 25 fps
        answers += [session.swap_image(frames[25], {"t": 40 * 24 + 500})]  # then a half-second gap: repeated frames
        assert answers[-1].meta["recording"] == 11
        out, shown, seconds = session.stop_recording()
        empty = session.start_recording(tmp_path / "empty.mp4")
        assert session.stop_recording() == (None, 0, 0.0) and not empty.exists()  # nothing came: no file
    finally:
        session.close()
    assert out == path and shown == 11 and seconds == pytest.approx(1.5)
    info = video.probe(path)
    got = [f.image for f in video.FrameReader(path)]
    assert (info.fps, info.frame_count, len(got), info.width, info.height) == (10.0, 15, 15, 640, 360)
    assert info.tags["comment"] == SYNTHETIC_TAG and info.tags["description"] == SYNTHETIC_TAG
    # the file's timeline is the camera's: frame 0 is the first answer, frames 10-14 the one after the gap, repeated,
    # and each frame between is a later answer than the one before (answers that came early are left out)
    halves = [a.pair[:, 640:].astype(int) for a in answers]
    nearest = [int(np.argmin([np.abs(g.astype(int) - h).mean() for h in halves])) for g in got]
    assert nearest[0] == 0 and nearest[10:] == [25] * 5, nearest
    assert all(a < b for a, b in zip(nearest[:10], nearest[1:10])), nearest
    assert max(np.abs(g.astype(int) - halves[i]).mean() for g, i in zip(got, nearest)) < 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_play_camera_drops_what_comes_while_a_frame_is_swapped(plain_run, frames):
    c = config(plain_run)
    session = live.LiveSession(c.run_dir, c)
    try:
        r = live.play_camera(session, frames * 2, fps=25.0)
    finally:
        session.close()
    assert r["shown"] + r["dropped"] == r["camera_frames"] == 60 and r["shown"] >= 5 and r["with_face"] == r["shown"]
    assert 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p90"] <= r["latency_ms"]["p99"]
    assert r["fps"] > 0 and set(r["stage_ms"]) == {*live.STAGES, "total"}


@pytest.mark.notebook
def test_07_live_headless_plays_the_stand_in_clip_as_a_camera(plain_run, tmp_path):
    """Without a browser (INTERACTIVE=False) 07_live plays STAND_IN through the same session and records it."""
    import json

    from swaplab.notebook.runner import run_notebook

    params = {"PROJECT": "lv", "RUN": "tiny", "DATA_DIR": str(plain_run / "data"), "WEIGHTS_DIR": str(plain_run / "weights"),
              "INTERACTIVE": False, "RECORD_FPS": 10.0, "STAND_IN": "samples/grid/s1/bbaf2n.mpg"}
    executed = run_notebook("07_live", params, tmp_path)
    text = "".join("".join(o.get("text", "")) for c in json.loads(executed.read_text())["cells"] for o in c.get("outputs", []))
    shown = re.search(r"(\d+) of 75 frames swapped \((\d+) with a face\): ([\d.]+) fps", text)
    assert shown and int(shown.group(1)) == int(shown.group(2)) >= 5 and float(shown.group(3)) > 0, text[-800:]
    (recording,) = (plain_run / "data" / "lv" / "output").glob("live_a2b_*.mp4")
    info = video.probe(recording)
    assert info.fps == 10.0 and 28 <= info.frame_count <= 30 and info.tags["comment"] == SYNTHETIC_TAG
    assert f"recorded {recording}" in text
