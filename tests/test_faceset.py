"""faceset: identity filtering with a reference, faceless sources, re-runs, atomic index, training arrays."""

import json
import shutil

import cv2
import numpy as np
import pytest

from swaplab.align import build
from swaplab.align import config as align_config
from swaplab.core import assets, paths, video
from swaplab.face import faceset, landmarks

DUO = "samples/headpose/head-pose-face-detection-female-and-male.gif"
FAST = dict(max_faces=2, sample_fps=2, min_face=40, workers=1, progress=False)  # 10 of the GIF's 58 frames; faces ~70 px


def _add(data, person, *files):
    folder = paths.sources_dir(data, "t", person)
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, folder)


@pytest.fixture(scope="module")
def duo(tmp_path_factory):
    """The two-person GIF aligned with a reference photo of the face on the image's right."""
    data = tmp_path_factory.mktemp("data")
    gif = assets.fetch(DUO)
    frame = next(iter(video.FrameReader(gif)))
    with landmarks.Landmarker("image", num_faces=2) as lm:
        right = max(lm.detect(frame.image), key=lambda f: f.bbox[0])
    x0, y0, x1, y1 = right.bbox
    ref = data / "reference.png"
    photo = frame.image[max(0, y0 - 40):y1 + 40, max(0, x0 - 40):x1 + 40]
    cv2.imwrite(str(ref), cv2.cvtColor(cv2.resize(photo, None, fx=2, fy=2), cv2.COLOR_RGB2BGR))
    _add(data, "duo", gif)
    return data, build.align_person(data, "t", "duo", reference=ref, **FAST), ref


def test_reference_keeps_only_that_person(duo):
    _, fs, _ = duo
    kept = fs.kept()
    assert len(kept) >= 5 and fs.summary["identity_reference"].startswith("photo")
    assert all(r["bbox"][0] > 240 for r in kept), "a face on the left (the other person) was kept"
    others = fs.dropped("other identity")
    assert others and all(r["bbox"][0] < 240 for r in others)
    assert max(r["identity_distance"] for r in kept) < align_config.IDENTITY_MAX < min(r["identity_distance"] for r in others)
    frames = [(r["source"], r["frame"]) for r in kept]
    assert len(frames) == len(set(frames))  # at most one face per frame


def test_index_rows_follow_the_contract(duo):
    _, fs, _ = duo
    r = fs.rows[0]
    for key in ("source", "frame", "time", "face", "file", "bbox", "matrix", "landmarks", "yaw", "pitch", "roll",
                "blendshapes", "blur", "brightness", "size", "identity_distance", "kept", "why"):
        assert key in r, key
    assert np.array(r["matrix"]).shape == (2, 3) and np.array(r["landmarks"]).shape == (478, 2)
    assert r["file"] == f"crops/{r['source']}_{r['frame']:06d}_{r['face']}.jpg"
    assert fs.image(r).shape == (fs.face_size, fs.face_size, 3)
    s = json.loads((fs.dir / "summary.json").read_text())
    assert s["face_size"] == 256 and s["frames_read"] == 10  # every 6th frame
    assert s["faces"] == len(fs.rows) and s["frames_read"] < len(fs.rows) <= 2 * s["frames_read"]


def test_rerun_skips_done_sources(duo):
    data, fs, ref = duo
    crop = fs.dir / fs.rows[0]["file"]
    before = crop.stat().st_mtime_ns
    again = build.align_person(data, "t", "duo", reference=ref, **FAST)
    assert crop.stat().st_mtime_ns == before  # not decoded nor written again
    assert [r["kept"] for r in again.rows] == [r["kept"] for r in fs.rows]
    # Looser thresholds re-apply to the stored faces without reading the source.
    loose = build.align_person(data, "t", "duo", reference=ref, **{**FAST, "dedupe": 0})
    assert crop.stat().st_mtime_ns == before and len(loose.kept()) >= len(fs.kept())


def test_index_is_written_atomically(duo):
    _, fs, _ = duo
    index = fs.dir / "index.jsonl"
    before = index.read_bytes()
    with pytest.raises(TypeError):
        build._save(fs.dir, fs.rows + [{"bad": object()}], {}, fs.summary)  # fails mid-write
    assert index.read_bytes() == before
    assert not list(fs.dir.glob(".index.jsonl*"))  # no temporary file left behind


def test_load_training_arrays(duo):
    _, fs, _ = duo
    images, masks = faceset.load_training_arrays(fs.dir, 64)
    assert images.shape == (len(fs.kept()), 64, 64, 3) and images.dtype == np.uint8
    assert masks.shape == (len(fs.kept()), 64, 64, 2) and set(np.unique(masks)) <= {0, 255}
    assert (masks[..., 0] > 0).mean() > 0.3


def test_source_without_faces_is_reported_and_no_face_at_all_is_an_error(tmp_path):
    noise = tmp_path / "noise.mp4"
    rng = np.random.default_rng(0)
    with video.VideoWriter(noise, fps=10) as w:
        for _ in range(10):
            w.write(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    _add(tmp_path, "ghost", noise)
    with pytest.raises(faceset.FaceSetError, match=r"found no face in the 10 frames .* person ghost .*: collect footage"):
        build.align_person(tmp_path, "t", "ghost", workers=1, progress=False)
    faces = paths.faces_dir(tmp_path, "t", "ghost")
    assert not faces.exists()  # no empty face set is written
    with pytest.raises(FileNotFoundError, match="faces is empty: run 02_align for person ghost first"):
        faceset.load_training_arrays(faces, 64)
    # beside a source with faces, a faceless one is only reported
    _add(tmp_path, "ghost", assets.fetch("samples/grid/s1/bbaf2n.mpg", data_dir=tmp_path))
    fs = build.align_person(tmp_path, "t", "ghost", sample_fps=5, identity_every=0, workers=1, progress=False)
    assert fs.summary["no_face_sources"] == ["noise"] and len(fs.kept()) >= 5
    noise_summary = fs.summary["sources"]["noise"]
    assert noise_summary["frames_without_face"] == noise_summary["frames_read"] == 5  # 10 fps sampled at 5


def test_person_without_sources_gets_a_clear_error(tmp_path):
    paths.sources_dir(tmp_path, "t", "b").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="sources is empty: run 01_collect for person b first"):
        build.align_person(tmp_path, "t", "b", progress=False)


def test_corrupt_frames_mid_video_are_counted_not_a_crash(tmp_path):
    """Garbage in the middle of an MPEG-1 stream: ffmpeg conceals it, the damage is counted, the faces are kept."""
    data = bytearray(assets.fetch("samples/grid/s1/bbaf2n.mpg", data_dir=tmp_path).read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4000] = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    broken = tmp_path / "broken.mpg"
    broken.write_bytes(bytes(data))
    _add(tmp_path, "a", broken)
    fs = build.align_person(tmp_path, "t", "a", sample_fps=12.5, identity_every=0, workers=1, progress=False)
    assert fs.summary["decode_errors"] >= 1 and not fs.summary["errors"]
    assert fs.summary["frames_read"] >= 30 and len(fs.kept()) >= 10
