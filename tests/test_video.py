"""swaplab.core.video: reading .mpg, GIF and image folders with ranges and sampling; writing mp4 with audio."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from swaplab import SYNTHETIC_TAG
from swaplab.core import assets, video

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="module")
def mpg(tmp_path_factory) -> Path:
    """A GRID clip: 75 frames, 360x288, 25 fps, mp2 audio."""
    return assets.fetch("samples/grid/s1/bbaf2n.mpg", data_dir=tmp_path_factory.mktemp("data"), progress=False)


@pytest.fixture(scope="module")
def gif(tmp_path_factory) -> Path:
    return assets.fetch("samples/headpose/head-pose-face-detection-female.gif", data_dir=tmp_path_factory.mktemp("data"), progress=False)


def test_read_mpg(mpg):
    info = video.probe(mpg)
    assert (info.fps, info.frame_count, info.resolution, info.has_audio, info.codec) == (25.0, 75, "360x288", True, "mpeg1video")
    frames = list(video.FrameReader(mpg))
    assert len(frames) == 75 and frames[0].image.shape == (288, 360, 3) and frames[0].image.dtype == np.uint8
    assert [f.index for f in frames[:3]] == [0, 1, 2] and frames[25].time == pytest.approx(1.0)


def test_time_range_every_and_width(mpg):
    ranged = list(video.FrameReader(mpg, start=1.0, duration=1.0))
    assert len(ranged) == 25 and ranged[0].index == 25
    sampled = list(video.FrameReader(mpg, every=5))
    assert len(sampled) == 15 and [f.index for f in sampled[:3]] == [0, 5, 10]
    small = next(iter(video.FrameReader(mpg, width=180)))
    assert small.image.shape == (144, 180, 3)
    assert len(video.sample_frames(mpg, 4)) == 4


def test_parse_range():
    assert video.parse_range("00:01-00:03") == (1.0, 2.0)
    assert video.parse_range("1:30-") == (90.0, None)
    assert video.parse_range("") == (0.0, None)
    with pytest.raises(ValueError, match="ends before it starts"):
        video.parse_range("0:05-0:02")
    with pytest.raises(ValueError, match="not understood"):
        video.parse_range("five-six")


def test_gif_input(gif):
    info = video.probe(gif)
    assert info.codec == "gif" and info.resolution == "480x270" and not info.has_audio
    frames = list(video.FrameReader(gif))
    assert len(frames) >= 20 and frames[0].image.shape == (270, 480, 3)


def test_image_folder_input(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(10):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), rng.integers(0, 255, (40, 60, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("ignored: not an image")
    info = video.probe(tmp_path)
    assert (info.codec, info.frame_count, info.resolution) == ("images", 10, "60x40")
    frames = list(video.FrameReader(tmp_path, every=3, width=30))
    assert [f.index for f in frames] == [0, 3, 6, 9] and frames[0].image.shape == (20, 30, 3)


def test_write_mp4_with_audio_of_a_range(mpg, tmp_path):
    out = tmp_path / "out.mp4"
    frames = [f.image for f in video.FrameReader(mpg, start=1.0, duration=1.0)]
    with video.VideoWriter(out, 25, audio_from=mpg, audio_start=1.0, audio_duration=1.0, metadata={"comment": SYNTHETIC_TAG}) as w:
        for f in frames:
            w.write(f)
    durations = video.stream_durations(out)
    assert durations["video"] == pytest.approx(len(frames) / 25)
    assert abs(durations["audio"] - 1.0) <= 0.1
    info = video.probe(out)
    assert info.codec == "h264" and info.has_audio and info.tags.get("comment") == SYNTHETIC_TAG
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_interrupted_writer_leaves_nothing(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt), video.VideoWriter(out, 25) as w:
        w.write(np.zeros((64, 64, 3), np.uint8))
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_text_file_named_mp4_is_refused(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(video.VideoError, match="not a readable video"):
        video.probe(fake)


def test_truncated_mpg_reads_short_with_decode_errors(mpg, tmp_path):
    """A cut MPEG file still opens (its header is at the start), as a shorter clip whose last frame is damaged.

    video reads what is there and counts the errors; swaplab.collect.sources refuses such a file as a source.
    """
    cut = tmp_path / "cut.mpg"
    cut.write_bytes(mpg.read_bytes()[:60_000])
    reader = video.FrameReader(cut)
    frames = list(reader)
    assert 0 < len(frames) < 75 and reader.errors > 0


def test_start_and_every_pick_the_frames_they_report(mpg):
    """With a start and frame sampling, each frame's index names the frame it really is."""
    every = list(video.FrameReader(mpg))
    picked = list(video.FrameReader(mpg, start=1.04, duration=1.0, every=4))
    assert [f.index for f in picked] == [26, 30, 34, 38, 42, 46, 50]
    for f in picked:
        assert np.array_equal(f.image, every[f.index].image)
