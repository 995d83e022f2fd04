"""swaplab.collect.sources (local files, folders of images or videos, globs, sample keys, re-runs, bad input) and swaplab.notebook.widgets."""

import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from swaplab.collect import sources as collect
from swaplab.core import assets, files, video
from swaplab.notebook import widgets

SHARED = Path(__file__).resolve().parents[2] / "shared"
S2 = ["samples/grid/s2/id2_vcd_swwp2s.mpg", "samples/grid/s2/pwij3p.mpg"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A folder with the two s2 clips (3 s, 25 fps, 360x288, audio), as a user's own files would be."""
    folder = tmp_path_factory.mktemp("clips")
    for key in S2:
        shutil.copyfile(assets.mirror_dir() / key, folder / key.rsplit("/", 1)[1])
    return folder


@pytest.fixture
def stills(tmp_path) -> Path:
    folder = tmp_path / "stills"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        cv2.imwrite(str(folder / f"{i}.jpg"), rng.integers(0, 255, (48, 64, 3), np.uint8))
    return folder


def sources(data: Path, person: str = "a") -> Path:
    return data / "p" / person / "sources"


def stored(data: Path, person: str = "a") -> list[str]:
    """Everything in sources/, hidden staging folders included."""
    folder = sources(data, person)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_local_file_is_copied_and_recorded(clips, tmp_path):
    src = clips / "pwij3p.mpg"
    (e,) = collect.add_sources(tmp_path, "p", "a", [str(src)], progress=False).added
    assert (e["id"], e["kind"], e["origin"], e["file"], e["stored_as"]) == ("001", "file", str(src), "001-pwij3p.mpg", "copy")
    assert (e["fps"], e["frame_count"], e["resolution"], e["has_audio"]) == (25.0, 75, "360x288", True)
    assert e["sha256"] == assets.MANIFEST["samples/grid/s2/pwij3p.mpg"].sha256 == assets.sha256_of(sources(tmp_path) / e["file"])
    assert e["consent_note"] == collect.CONSENT_REMINDER and e["credits"] == []  # not under a samples/ path
    assert datetime.fromisoformat(e["added"]).tzinfo is not None
    assert files.read_json(sources(tmp_path) / "manifest.json")["sources"] == [e]


def test_link_and_time_range(clips, tmp_path):
    done = collect.add_sources(tmp_path, "p", "a", [str(clips / "pwij3p.mpg")] * 2, ["", "0:01-0:02"], link=True,
                               consent_note="s2 of the GRID corpus, CC BY 4.0", progress=False)
    linked, cut = done.added
    assert linked["stored_as"] in {"hardlink", "symlink"} and linked["consent_note"].startswith("s2 of")
    assert cut["file"] == "002-pwij3p.mp4" and cut["stored_as"] == "copy" and cut["range"] == "0:01-0:02"
    assert cut["duration"] == pytest.approx(1.0, abs=0.05) and cut["has_audio"]


def test_folder_glob_and_rerun_adds_nothing(clips, stills, tmp_path):
    spec = [str(clips / "*.mpg"), str(stills)]
    first = collect.add_sources(tmp_path, "p", "a", spec, progress=False)
    assert [e["kind"] for e in first.added] == ["file", "file", "folder"] and first.existing == []
    folder = first.added[2]
    assert folder["frame_count"] == 5 and folder["resolution"] == "64x48" and not folder["has_audio"]
    assert sorted(os.listdir(sources(tmp_path) / folder["file"])) == [f"{i}.jpg" for i in range(5)]
    before = {p: p.stat().st_mtime_ns for p in sources(tmp_path).iterdir()}
    again = collect.add_sources(tmp_path, "p", "a", spec, [""], progress=False)
    assert again.added == [] and [e["id"] for e in again.existing] == ["001", "002", "003"]
    assert {p: p.stat().st_mtime_ns for p in sources(tmp_path).iterdir()} == before  # nothing rewritten


def test_folder_of_videos_collects_each_video(tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    s1 = sorted((SHARED / "samples/grid/s1").glob("*.mpg"))[:3]
    for clip in s1[:2]:
        shutil.copyfile(clip, folder / clip.name)
    (folder / ".hidden.mp4").write_bytes(b"")  # hidden files and subfolders are not sources
    (folder / "notes").mkdir()
    data = tmp_path / "data"
    first = collect.add_sources(data, "p", "a", [str(folder)], progress=False)
    assert [(e["kind"], e["origin"]) for e in first.added] == [("file", str(folder / c.name)) for c in s1[:2]]
    assert [e["file"] for e in first.added] == [f"00{i + 1}-{c.name}" for i, c in enumerate(s1[:2])]
    assert all(e["frame_count"] == 75 and e["has_audio"] for e in first.added)
    assert files.read_json(sources(data) / "manifest.json")["sources"] == first.added  # the manifest records each video
    assert capsys.readouterr().out == ""  # a folder of videos only: nothing to point out
    shutil.copyfile(s1[2], folder / s1[2].name)  # a video added to the folder later
    again = collect.add_sources(data, "p", "a", [str(folder) + "/"], progress=False)
    assert [e["origin"] for e in again.added] == [str(folder / s1[2].name)] and len(again.existing) == 2


def test_folder_of_videos_and_images_collects_both_and_says_so(clips, stills, tmp_path, capsys):
    mixed = tmp_path / "mixed"
    shutil.copytree(stills, mixed)
    for clip in sorted(clips.glob("*.mpg")):
        shutil.copyfile(clip, mixed / clip.name)
    added = collect.add_sources(tmp_path / "data", "p", "a", [str(mixed)], progress=False).added
    assert [(e["kind"], Path(e["origin"]).name) for e in added] == \
        [("file", "id2_vcd_swwp2s.mpg"), ("file", "pwij3p.mpg"), ("folder", "mixed")]
    assert sorted(os.listdir(sources(tmp_path / "data") / added[2]["file"])) == [f"{i}.jpg" for i in range(5)]  # images only
    out = capsys.readouterr().out.splitlines()
    assert out == [f"SOURCES entry {str(mixed)!r} holds 2 videos and 5 images: each video is collected as a source of "
                   "its own, and the images together as one image-folder source"]
    with pytest.raises(ValueError, match="holds images as well as videos: time ranges apply to videos only"):
        collect.resolve([str(mixed)], ["0:00-0:01"])
    cut = collect.resolve([str(clips)], ["0:01-0:02"])  # a range applies to each video of a folder
    assert [(s.kind, s.range, s.start, s.duration) for s in cut] == [("file", "0:01-0:02", 1.0, 1.0)] * 2


def test_sample_keys_are_fetched_and_credited(tmp_path):
    added = collect.add_sources(tmp_path, "p", "b", ["samples/grid/s2/"], progress=False).added
    assert [e["asset"] for e in added] == S2 and all(e["licence"] == "CC BY 4.0" for e in added)
    assert "speaker s2" in added[0]["credits"][0]
    summary = collect.summary(tmp_path, "p", "b")
    assert (summary["sources"], summary["total_frames"], summary["with_audio"]) == (2, 150, 2)
    assert summary["credits"] == added[0]["credits"]


def test_contact_sheet(clips, stills, tmp_path):
    collect.add_sources(tmp_path, "p", "a", [str(clips / "pwij3p.mpg"), str(stills)], progress=False)
    sheet = collect.contact_sheet(tmp_path, "p", "a", per_source=3, width=100, columns=2)
    assert sheet == tmp_path / "p" / "reports" / "01_collect_a.png"
    img = cv2.imread(str(sheet))
    assert img.shape[1] == 2 * 3 * 100 and img.shape[0] > 80
    with pytest.raises(collect.CollectError, match="holds no sources"):
        collect.contact_sheet(tmp_path, "p", "nobody")


def test_webcam_clip_is_reencoded_and_recorded(clips, tmp_path):
    e = collect.add_recording(tmp_path, "p", "a", clips / "pwij3p.mpg", "me, recorded with consent")
    assert e["kind"] == "webcam" and e["origin"].startswith("webcam ") and e["file"].endswith(".mp4")
    assert e["duration"] == pytest.approx(3.0, abs=0.1) and e["consent_note"] == "me, recorded with consent"


def test_stale_staging_folder_is_removed(clips, tmp_path):
    stale = sources(tmp_path) / ".incoming-killed"
    stale.mkdir(parents=True)
    (stale / "half.mp4").write_bytes(b"\0" * 100)
    collect.add_sources(tmp_path, "p", "a", [str(clips / "pwij3p.mpg")], progress=False)
    assert stored(tmp_path) == ["001-pwij3p.mpg", "manifest.json"]


def _fake_mp4(tmp: Path) -> str:
    (tmp / "fake.mp4").write_text("not a video at all")
    return str(tmp / "fake.mp4")


def _truncated_mpg(tmp: Path) -> str:
    """An MPEG file cut off mid-way, as a broken download or copy leaves it."""
    (tmp / "cut.mpg").write_bytes((SHARED / "samples/grid/s2/pwij3p.mpg").read_bytes()[:150_000])
    return str(tmp / "cut.mpg")


def _truncated_mp4(tmp: Path) -> str:
    """An mp4 whose index (moved to the front) promises 3 s but whose data stops at about half."""
    whole = tmp / "whole.mp4"
    subprocess.run([video.ffmpeg_exe(), "-v", "error", "-i", str(SHARED / "samples/grid/s2/pwij3p.mpg"), "-c:v", "libx264",
                    "-preset", "ultrafast", "-an", "-movflags", "+faststart", str(whole)], check=True)
    data = whole.read_bytes()
    whole.unlink()
    (tmp / "cut.mp4").write_bytes(data[: len(data) // 2])
    return str(tmp / "cut.mp4")


@pytest.mark.parametrize("make, person, error, words", [
    (lambda t: str(t / "missing.mp4"), "a", FileNotFoundError, ["missing.mp4", "does not exist"]),
    (_fake_mp4, "a", collect.CollectError, ["fake.mp4", "not a readable video"]),
    (_truncated_mpg, "a", collect.CollectError, ["cut.mpg", "truncated", "decode errors"]),
    (_truncated_mp4, "a", collect.CollectError, ["cut.mp4", "truncated"]),
    (lambda t: str(t / "nothing-*.mp4"), "a", FileNotFoundError, ["nothing-*.mp4", "matches no file"]),
    (lambda t: str(t), "a", FileNotFoundError, ["is a folder with no video or image in it", "subfolders"]),
    (lambda t: "http://127.0.0.1:1/x.mp4", "../x", ValueError, ["PERSON='../x'", "not a valid name"]),
    (lambda t: "http://127.0.0.1:1/x.mp4", "a/b", ValueError, ["PERSON='a/b'", "no slashes"]),
], ids=["missing", "fake-mp4", "truncated-mpg", "truncated-mp4", "empty-glob", "empty-folder", "dotdot-person",
        "slash-person"])
def test_bad_input_is_one_clear_error_and_leaves_nothing(tmp_path, make, person, error, words):
    inputs = tmp_path / "in"
    inputs.mkdir()
    data = tmp_path / "data"
    with pytest.raises(error) as err:
        collect.add_sources(data, "p", person, [make(inputs)], progress=False)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert "\n" not in str(err.value)
    for folder in data.rglob("sources"):  # no file, staged or final, anywhere under sources/
        assert [p.name for p in folder.iterdir()] == []
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("srcs, ranges, words", [
    (["a.mp4"], ["0:05-0:02"], "ends before it starts"),
    (["a.mp4"], ["", ""], "TIME_RANGES has 2 entries for 1 SOURCES"),
    ([""], [], "empty entry"),
])
def test_bad_sources_list(srcs, ranges, words):
    with pytest.raises(ValueError, match=words):
        collect.resolve(srcs, ranges)


def test_folder_with_time_range_is_refused(stills):
    with pytest.raises(ValueError, match="time ranges apply to videos only"):
        collect.resolve([str(stills)], ["0:00-0:01"])


def test_verify_video_passes_a_good_clip(clips):
    assert collect.verify_video(clips / "pwij3p.mpg").frame_count == 75


def test_parameter_controls_write_back():
    ns = {"SEED": 1, "LINK": False, "SOURCES": ["a"], "LR": 0.5, "MODE": "x", "NAME": "n"}
    box = widgets.parameter_controls(ns, {"SEED": (0, 9), "LINK": None, "SOURCES": None, "LR": (0.0, 1.0), "MODE": ["x", "y"], "NAME": None})
    seed, link, srcs, lr, mode, name = box.children
    seed.value, link.value, srcs.value, lr.value, mode.value, name.value = 7, True, "u\n\n v \n", 0.25, "y", "m"
    assert ns == {"SEED": 7, "LINK": True, "SOURCES": ["u", "v"], "LR": 0.25, "MODE": "y", "NAME": "m"}
    with pytest.raises(KeyError, match="run the parameters cell"):
        widgets.parameter_controls(ns, {"MISSING": None})


def test_webcam_recorder_builds_and_checks_the_person(tmp_path):
    assert type(widgets.webcam_recorder(tmp_path, "p", "a")).__name__ == "VBox"
    with pytest.raises(ValueError, match="PERSON"):
        widgets.webcam_recorder(tmp_path, "p", "../x")
