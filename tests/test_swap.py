"""The conversion pipeline end to end on short real clips, with the real landmarker, model and ffmpeg.

The model is the default "lite" architecture with untrained weights: its faces
are meaningless, but every stage (landmarks, batching, colour, blending, encode,
audio, tags, atomic writes) runs for real. Each conversion is a second of video.
"""

import numpy as np
import pytest

from swaplab import SYNTHETIC_TAG
from swaplab.core import assets, files, paths, video
from swaplab.model import runs
from swaplab.notebook import widgets
from swaplab.swap import pipeline as swap

CLIP = "samples/grid/s1/bbaf2n.mpg"  # 360x288, 25 fps, 2.98 s, one speaker facing the camera, audio


@pytest.fixture(scope="module")
def model():
    swap.configure_threads()
    from swaplab.model.models import build_swap_model

    return build_swap_model("lite")


@pytest.fixture(scope="module")
def clip():
    return assets.fetch(CLIP, progress=False)


@pytest.fixture(scope="module")
def faceless(tmp_path_factory):
    """1 s of smooth moving colour blobs (no face), 25 fps, with no audio."""
    path = tmp_path_factory.mktemp("faceless") / "blobs.mp4"
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 255, (9, 12, 3)).astype(np.float32)
    with video.VideoWriter(path, 25) as w:
        for i in range(25):
            small = np.roll(base, i // 3, axis=1)
            w.write(np.ascontiguousarray(video_resize(small, 192, 144)))
    return path


def video_resize(img, w, h):
    import cv2

    return cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def frames_of(path):
    return np.stack([f.image for f in video.FrameReader(path)])


def test_range_fps_audio_faces_and_tag(model, clip, tmp_path):
    out = tmp_path / "a2b.mp4"
    opts = swap.SwapOptions(direction="a2b", start=1.0, duration=1.2, batch_size=4, color="rct")
    report = swap.convert(clip, model, out, opts, progress=False)
    info = video.probe(out)
    assert (report.frames, info.frame_count, info.fps) == (30, 30, 25.0)
    assert (report.faces_swapped, report.frames_without_face) == (30, 0)
    assert report.pasted == {"frames": 30, "share": 1.0, "ranges": [[0, 29]]}  # every frame got its face pasted
    # a 64 px face over a GRID face of ~175 px: stretched ~2.8x, and the one warning says so
    assert report.drawn_size == 64 and 2.5 < report.stretch < 3.1
    assert len(report.warnings) == 1 and f"stretched {report.stretch:.1f}x" in report.warnings[0]
    lengths = video.stream_durations(out)
    assert abs(lengths["video"] - 1.2) < 0.01 and abs(lengths["audio"] - 1.2) < 0.06
    assert info.tags["comment"] == SYNTHETIC_TAG and info.tags["description"] == SYNTHETIC_TAG
    assert (info.width, info.height) == (360, 288) == (report.width, report.height)
    assert set(report.ms_per_frame) == set(swap.STAGES) and report.fps > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_side_by_side_resize_b2a_seamless(model, clip, tmp_path):
    out = tmp_path / "b2a.mp4"
    opts = swap.SwapOptions(direction="b2a", duration=0.4, output_width=180, side_by_side=True,
                            blend="seamless", color="hist", smoothing=0, label="")
    report = swap.convert(clip, model, out, opts, progress=False)
    info = video.probe(out)
    assert (info.width, info.height, info.frame_count) == (360, 144, 10) and report.faces_swapped == 10
    first = frames_of(out)[0]
    left, right = first[:, :180].astype(int), first[:, 180:].astype(int)
    original = next(iter(video.FrameReader(clip, width=180))).image.astype(int)
    assert np.abs(left - original).mean() < 3  # left half: the input, untouched (codec noise only)
    assert np.abs(right - original).mean() > np.abs(left - original).mean() + 0.5  # right half: swapped


def test_frames_without_a_face_pass_through_unchanged(model, faceless, tmp_path):
    out = tmp_path / "copy.mp4"
    with pytest.warns(UserWarning, match="no face"):
        report = swap.convert(faceless, model, out, swap.SwapOptions(label=""), progress=False)
    assert (report.frames, report.faces_swapped, report.frames_without_face) == (25, 0, 25)
    assert report.pasted == {"frames": 0, "share": 0.0, "ranges": []}
    assert "unchanged copy" in report.warnings[0]
    # the same frames through the same encoder settings with no swap step: identical pictures
    ref = tmp_path / "ref.mp4"
    defaults = swap.SwapOptions()
    with video.VideoWriter(ref, 25, crf=defaults.crf, preset=defaults.preset) as w:
        for f in video.FrameReader(faceless):
            w.write(f.image)
    a, b = frames_of(out), frames_of(ref)
    assert a.shape == b.shape and np.abs(a.astype(int) - b).max() <= 1


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_a_run_stopped_half_way_leaves_nothing(model, clip, tmp_path, stop):
    out = tmp_path / "stopped.mp4"

    def progress(done, total):
        if done == 12:
            raise stop("stopped by the test")

    with pytest.raises(stop):
        swap.convert(clip, model, out, swap.SwapOptions(duration=1.0, batch_size=4), progress=progress)
    assert list(tmp_path.iterdir()) == []


def test_preview_matches_the_pipeline_and_reuses_its_cache(model, clip):
    cache = {}
    opts = swap.SwapOptions(label="", mask_erode=2, mask_blur=2)
    original, swapped = swap.preview_frame(clip, model, 20, opts, cache)
    assert original.shape == swapped.shape == (288, 360, 3)
    changed = (original != swapped).any(-1)
    ys, xs = np.nonzero(changed)
    assert 500 < changed.sum() < 0.5 * changed.size  # the face, not the frame
    lm = cache["jobs"][0].matrix
    assert 0 < xs.min() and xs.max() < 359 and 0 < ys.min() and lm.shape == (2, 3)
    jobs = cache["jobs"]
    _, wider = swap.preview_frame(clip, model, 20, swap.SwapOptions(label="", mask_erode=0, mask_blur=2), cache)
    assert cache["jobs"] is jobs  # only the blend re-ran
    assert (wider != original).any(-1).sum() > changed.sum()  # less erosion: a larger pasted area


def test_bad_inputs_get_one_clear_error_each(model, clip, tmp_path):
    out = tmp_path / "x.mp4"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(video.VideoError, match="INPUT"):
        swap.convert(broken, model, out, progress=False)
    with pytest.raises(ValueError, match="START"):
        swap.convert(clip, model, out, swap.SwapOptions(start=60.0), progress=False)
    with pytest.raises(ValueError, match="DURATION"):
        swap.convert(clip, model, out, swap.SwapOptions(duration=0), progress=False)
    with pytest.raises(ValueError, match="COLOR"):
        swap.SwapOptions(color="lab").validate()
    with pytest.raises(FileNotFoundError, match="03_train"):
        swap.convert(clip, tmp_path / "weights" / "demo" / "nope", out, progress=False)
    assert not out.exists()


def test_a_run_of_another_project_is_refused(model, tmp_path):
    run = tmp_path / "weights" / "other" / "r1"
    run.mkdir(parents=True)
    model.save_weights(run / runs.CHECKPOINT)
    files.write_json(run / runs.CONFIG, {"project": "other", "model": model.model_name, "image_size": model.image_size})
    with pytest.raises(ValueError, match="project 'other', not 'demo'"):
        runs.load(run, project="demo")
    loaded = runs.load(run, project="other")
    assert np.array_equal(loaded.get_weights()[0], model.get_weights()[0])
    assert runs.load(model) is model  # a model object passes through


def test_resolve_media_and_output_names(clip, tmp_path):
    assert assets.resolve_media(str(clip), tmp_path, "demo") == clip
    got = assets.resolve_media(CLIP, tmp_path, "demo")
    assert got.exists() and got.name == "bbaf2n.mpg"
    src = tmp_path / "demo" / "a" / "sources" / "talk.mp4"
    src.parent.mkdir(parents=True)
    src.write_bytes(b"x")
    assert assets.resolve_media("talk", tmp_path, "demo") == src
    with pytest.raises(FileNotFoundError, match="01_collect"):
        assets.resolve_media("nothing", tmp_path, "demo")
    assert paths.output_file(tmp_path, "demo", "x/talk.mp4", "a2b") == tmp_path / "demo" / "output" / "talk_a2b.mp4"
    assert paths.output_name("x/photo.jpeg", "b2a") == "photo_b2a.jpg" and paths.output_name("x/p.webp", "a2b") == "p_a2b.png"


def test_scrubber_writes_the_chosen_values_back(model, clip):
    pytest.importorskip("ipywidgets")
    namespace = {"MASK_ERODE": 3, "DIRECTION": "b2a"}
    panel = widgets.scrubber(clip, model, swap.SwapOptions(), namespace)
    frame, row1, row2, image = panel.children
    (erode, blur, sharp), (color, mode, mask, detail) = row1.children, row2.children
    assert detail.disabled  # this run has no detail stage: nothing to switch
    before = image.value
    erode.value, color.value, mode.value, frame.value = 7, "hist", "seamless", 40
    assert image.value != before and image.value[:2] == b"\xff\xd8"  # a new JPEG
    blended = image.value
    sharp.value = 1.0
    assert image.value != blended  # the unsharp mask redraws the same frame
    sharpened = image.value
    mask.value = "hull-hair"
    assert image.value != sharpened  # the hair model ran and the mask panel redrew
    assert namespace == {"MASK_ERODE": 7, "MASK_BLUR": blur.value, "SHARPEN": 1.0, "COLOR": "hist", "BLEND": "seamless",
                         "MASK": "hull-hair", "DETAIL": True, "DIRECTION": "b2a"}
    chosen = swap.SwapOptions.from_parameters(namespace)
    assert (chosen.mask_erode, chosen.sharpen, chosen.color, chosen.blend, chosen.direction) == (7, 1.0, "hist", "seamless", "b2a")


def test_the_report_says_which_frames_got_a_face_pasted():
    report = swap.ConvertReport("in.mp4", "out.mp4", "a2b", 0.0, None)
    for index, faces in enumerate([0, 1, 1, 0, 2, 1, 0, 0, 1]):
        report.note_pasted(index, faces)
    assert report.pasted["frames"] == 5 and report.pasted["ranges"] == [[1, 2], [4, 5], [8, 8]]
    assert "pasted" in report.asdict()  # a new key of 04_swap.json: 05_evaluate reads its share


def test_batches_keep_order_and_never_hold_frames_back():
    jobs = [[], [], ["f"], [], ["f"], ["f"], [], [], [], [], [], ["f"]]  # the faces of each frame
    groups = list(swap._batches(((i, j) for i, j in enumerate(jobs)), batch_size=2))
    assert [i for g in groups for i, _ in g] == list(range(len(jobs)))  # every frame once, in order
    assert all(sum(len(j) for _, j in g) <= 2 and len(g) <= 4 for g in groups)
    assert groups[0] == [(0, [])] and groups[-1] == [(11, ["f"])]  # no wait for faces, and the tail is flushed
