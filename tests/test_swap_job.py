"""swap.SwapJob: 04_swap's checking cell, on real files (a tiny trained run, a sample clip, tmp folders).

Every wrong parameter fails in ``validate()``, before a frame is decoded, with one
line naming the parameter; a good job keeps what it resolved for the later cells.
"""

import cv2
import numpy as np
import pytest

from swaplab.core import assets, files, paths, video
from swaplab.swap import pipeline as swap
from swaplab.train import testing

CLIP = "samples/grid/s1/bbaf2n.mpg"  # 360x288, 25 fps, 2.98 s


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """weights/job/tiny (the "tiny" model trained 2 steps) under a tmp root; root/data is its DATA_DIR."""
    root = tmp_path_factory.mktemp("swapjob")
    testing.tiny_run(root, "job")
    return root


@pytest.fixture(scope="module")
def clip():
    return assets.fetch(CLIP, progress=False)


def job(root, **params) -> swap.SwapJob:
    """A job from notebook-style parameters, on the tiny run."""
    base = {"PROJECT": "job", "RUN": "tiny", "INPUT": CLIP, "TARGET": "largest",
            "DATA_DIR": str(root / "data"), "WEIGHTS_DIR": str(root / "weights")}
    return swap.SwapJob.from_parameters(base | params)


def test_a_good_job_resolves_what_the_later_cells_need(root, clip):
    j = job(root, INPUT=str(clip), DIRECTION="b2a", START=1.0, MASK_ERODE=5, PREVIEW_EVERY=2.0).validate()
    assert (j.project, j.run, j.preview_every, j.interactive) == ("job", "tiny", 2.0, False)
    assert (j.options.direction, j.options.start, j.options.mask_erode, j.options.target) == ("b2a", 1.0, 5, "largest")
    assert j.run_dir == paths.run_dir(root / "weights", "job", "tiny")
    assert (j.batch, j.inputs, j.input_path) == (False, [clip], clip)
    assert (j.info.width, j.info.height, j.info.fps) == (360, 288, 25.0)
    assert j.output_path == root / "data" / "job" / "output" / "bbaf2n_b2a.mp4" and j.output_dir == j.output_path.parent
    assert j.reports == root / "data" / "job" / "reports" and j.source_faces is None


def test_options_come_from_the_same_parameters_not_a_previous_options(root):
    stale = swap.SwapOptions(direction="a2a", color="none")
    j = job(root, DIRECTION="b2b", COLOR="hist", OPTIONS=stale, BATCH=True, RUN_DIR="elsewhere")
    assert (j.options.direction, j.options.color) == ("b2b", "hist") and j.options is not stale
    assert j.batch is None and j.run_dir is None  # resolved by validate(), never read from the notebook
    assert swap.SwapJob().options == swap.SwapOptions()


def test_a_batch_keeps_its_inputs_and_writes_into_output(root, clip, tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "a_broken.mp4").write_bytes(b"not a video")
    (folder / "b_clip.mpg").write_bytes(clip.read_bytes())
    (folder / "notes.txt").write_text("not media")
    j = job(root, INPUT=str(folder), OUTPUT=str(tmp_path / "out"), START=60.0).validate()  # START: per file, later
    assert j.batch and j.inputs == [folder / "a_broken.mp4", folder / "b_clip.mpg"]
    assert j.input_path == folder / "b_clip.mpg" and j.output_dir == tmp_path / "out"


@pytest.mark.parametrize("params, error, match", [
    ({"PROJECT": "../x"}, ValueError, r"PROJECT='../x' is not a valid name"),
    ({"RUN": "a/b"}, ValueError, r"RUN='a/b' is not a valid name"),
    ({"RUN": "missing"}, FileNotFoundError, r"missing holds no trained run: run 03_train with PROJECT='job', RUN='missing'"),
    ({"PREVIEW_EVERY": 0}, ValueError, r"PREVIEW_EVERY=0: "),
    ({"INTERACTIVE": "yes"}, ValueError, r"INTERACTIVE='yes': must be True or False"),
    ({"INPUT": ""}, ValueError, r"INPUT='': give a video"),
    ({"INPUT": "nothing"}, FileNotFoundError, r"INPUT='nothing' is neither a file"),
    ({"DIRECTION": "a2c"}, ValueError, r"DIRECTION='a2c': use one of"),
    ({"MASK_BLUR": -1}, ValueError, r"MASK_BLUR=-1: must be a whole number"),
    ({"START": 60.0}, ValueError, r"START=60s is past the end of .*bbaf2n.mpg \(2.98s\): choose an earlier START"),
    ({"TARGET": "identity", "DIRECTION": "b2a"}, FileNotFoundError,
     r"TARGET='identity' swaps only person 'b'.s faces .* run 02_align with PERSON='b'"),
    ({"OUTPUT": "out.avi"}, ValueError, r"OUTPUT='out.avi': must end in .mp4 for bbaf2n.mpg"),
])
def test_each_wrong_parameter_gets_one_line_naming_it(root, params, error, match):
    with pytest.raises(error, match=match) as err:
        job(root, **params).validate()
    assert "\n" not in str(err.value)


def test_a_wrong_input_file_is_refused_with_its_real_cause(root, tmp_path):
    fake = tmp_path / "photo.mp4"  # a PNG renamed .mp4
    fake.write_bytes(cv2.imencode(".png", np.full((64, 64, 3), 128, np.uint8))[1].tobytes())
    with pytest.raises(video.VideoError, match=r"INPUT=.*photo.mp4.*cannot tell its duration") as err:
        job(root, INPUT=str(fake)).validate()
    assert "START" not in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"INPUT=.*empty.* matches no video or image"):
        job(root, INPUT=str(empty)).validate()
    (empty / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(video.VideoError, match=r"INPUT=.*none of the 1 files can be read"):
        job(root, INPUT=str(empty)).validate()


def test_a_photo_needs_an_image_output_and_no_start_check(root, clip, tmp_path):
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), next(iter(video.FrameReader(clip))).image[..., ::-1])
    j = job(root, INPUT=str(still), START=60.0).validate()
    assert j.info.codec == "image" and j.output_path.name == "still_a2b.png"
    with pytest.raises(ValueError, match=r"OUTPUT=.*x.mp4': must end in .jpeg or .jpg or .png for still.png"):
        job(root, INPUT=str(still), OUTPUT=str(tmp_path / "x.mp4")).validate()


def test_identity_finds_the_source_persons_face_set(root):
    faces = paths.faces_dir(root / "data", "job", "a")
    faces.mkdir(parents=True)
    try:
        files.write_json(faces / "summary.json", {})
        j = job(root, TARGET="identity", DIRECTION="a2b").validate()
        assert j.source_faces == faces
    finally:
        (faces / "summary.json").unlink()


@pytest.mark.parametrize("name, value", [("label", None), ("side_by_side", "yes"), ("batch_size", 0), ("mask", "hair")])
def test_swap_options_check_every_knob(name, value):
    with pytest.raises(ValueError, match=rf"^{name.upper()}={value!r}: "):
        swap.SwapOptions(**{name: value}).validate()
