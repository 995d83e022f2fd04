"""The configs of 01_collect and 02_align (``collect.CollectConfig``, ``build.AlignConfig``): every bad
parameter is one line naming it, raised by ``validate()`` before anything is copied or read; on real
folders and sample clips."""

import pickle
import shutil

import cv2
import numpy as np
import pytest

from swaplab.align import build
from swaplab.align import config as align_config
from swaplab.collect import sources as collect
from swaplab.core import assets, paths

CLIP = "samples/grid/s1/bbaf2n.mpg"  # 3 s, 25 fps, one face


# ---------------------------------------------------------------- 01_collect


def test_collect_config_resolves_sources_without_copying(tmp_path):
    params = {"PROJECT": "p", "PERSON": "a", "SOURCES": [CLIP], "TIME_RANGES": ["0:01-0:02"], "DATA_DIR": str(tmp_path),
              "SEED": 3, "In": []}  # names that are not fields (a notebook's globals) are ignored
    config = collect.CollectConfig.from_parameters(params).validate()
    (spec,) = config.specs
    assert (spec.kind, spec.asset, spec.range, spec.start, spec.duration) == ("file", CLIP, "0:01-0:02", 1.0, 1.0)
    assert config.sources_dir == paths.sources_dir(tmp_path, "p", "a")
    assert config.report_json == tmp_path / "p" / "reports" / "01_collect_a.json"
    assert not (tmp_path / "p").exists()  # checked, nothing collected yet
    assert (config.link, config.consent_note, config.webcam_seconds, config.interactive) == (False, "", 5.0, False)


def test_collect_config_empty_sources_only_when_interactive(tmp_path):
    assert collect.CollectConfig(sources=[], interactive=True, data_dir=str(tmp_path)).validate().specs == []
    with pytest.raises(ValueError, match=r"^SOURCES=\[\]: list at least one URL"):
        collect.CollectConfig(sources=[], data_dir=str(tmp_path)).validate()


@pytest.mark.parametrize("fields, error, message", [
    ({"project": "a b"}, ValueError, "PROJECT='a b' is not a valid name"),
    ({"person": "../x"}, ValueError, "PERSON='../x' is not a valid name"),
    ({"sources": CLIP}, ValueError, f"SOURCES='{CLIP}': must be a list of strings"),
    ({"sources": [CLIP, 3]}, ValueError, "must be a list of strings"),
    ({"time_ranges": "0:01-0:02"}, ValueError, "TIME_RANGES='0:01-0:02': must be a list of strings"),
    ({"time_ranges": ["0:05-0:02"]}, ValueError, "ends before it starts"),
    ({"time_ranges": ["", ""]}, ValueError, "TIME_RANGES has 2 entries for 1 SOURCES"),
    ({"link": "yes"}, ValueError, "LINK='yes': must be True or False"),
    ({"interactive": 1}, ValueError, "INTERACTIVE=1: must be True or False"),
    ({"consent_note": None}, ValueError, "CONSENT_NOTE=None: must be a string"),
    ({"webcam_seconds": 0}, ValueError, "WEBCAM_SECONDS=0: must be between 1 and 60"),
    ({"webcam_seconds": 61.5}, ValueError, "WEBCAM_SECONDS=61.5: must be between 1 and 60"),
    ({"webcam_seconds": "5"}, ValueError, "WEBCAM_SECONDS='5': must be between 1 and 60"),
    ({"sources": ["missing.mp4"]}, FileNotFoundError, "SOURCES entry 'missing.mp4' does not exist"),
    ({"sources": ["samples/grid/s1/nothing-*.mpg"]}, FileNotFoundError, "matches no file"),
], ids=lambda v: "-".join(v) if isinstance(v, dict) else None)
def test_collect_config_bad_parameter_is_one_line_naming_it(tmp_path, monkeypatch, fields, error, message):
    monkeypatch.chdir(tmp_path)  # relative SOURCES start from the current folder
    config = collect.CollectConfig(**{"sources": [CLIP], "data_dir": str(tmp_path / "data"), **fields})
    with pytest.raises(error) as err:
        config.validate()
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert not (tmp_path / "data" / "demo").exists()  # nothing collected


def test_collect_config_resolves_a_folder_glob_and_refuses_a_range_on_an_image_folder(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(assets.fetch(CLIP, data_dir=tmp_path), clips / "one.mpg")
    shutil.copy(assets.fetch(CLIP, data_dir=tmp_path), clips / "two.mpg")
    config = collect.CollectConfig(sources=[str(clips / "*.mpg")], data_dir=str(tmp_path)).validate()
    assert [s.path.name for s in config.specs] == ["one.mpg", "two.mpg"]
    # a folder of videos is collected video by video, so a range applies to each; a folder of images has no time
    ranged = collect.CollectConfig(sources=[str(clips)], time_ranges=["0:00-0:01"], data_dir=str(tmp_path)).validate()
    assert [s.path.name for s in ranged.specs] == ["one.mpg", "two.mpg"]
    stills = tmp_path / "stills"
    stills.mkdir()
    for i in range(2):
        cv2.imwrite(str(stills / f"{i}.png"), np.full((32, 32, 3), 100 * i, np.uint8))
    with pytest.raises(ValueError, match="is an image folder: time ranges apply to videos only"):
        collect.CollectConfig(sources=[str(stills)], time_ranges=["0:00-0:01"], data_dir=str(tmp_path)).validate()


# ---------------------------------------------------------------- 02_align


def test_align_config_resolves_folders_and_target(tmp_path):
    config = build.AlignConfig(project="p", person="b", compare_with="a", target_video=CLIP, data_dir=tmp_path).validate()
    assert config.sources_dir == paths.sources_dir(tmp_path, "p", "b")
    assert config.faces_dir == paths.faces_dir(tmp_path, "p", "b") and config.reports == tmp_path / "p" / "reports"
    assert config.target.is_file() and config.target.name == "bbaf2n.mpg"
    # a source collected for the project, named without its folder
    folder = paths.sources_dir(tmp_path, "p", "a")
    folder.mkdir(parents=True)
    shutil.copy(config.target, folder / "001-clip.mpg")
    assert build.AlignConfig(project="p", target_video="001-clip", data_dir=tmp_path).validate().target == folder / "001-clip.mpg"
    assert build.AlignConfig(data_dir=tmp_path).validate().target is None


def test_align_config_settings_are_what_summary_json_records():
    config = build.AlignConfig(face_size=128, sample_fps=0, max_faces=2, compare_with="x", grid_mask="")
    assert list(config.settings()) == list(align_config.SETTINGS)
    assert config.settings() == {"face_size": 128, "sample_fps": None, "min_face": 64, "blur_min": 60.0, "dedupe": 0.5,
                                 "identity_max": 0.6, "identity_every": 25, "max_faces": 2}
    made = {"face_size": 256, "settings": {**config.settings(), "face_size": 256, "sample_fps": 5, "blur_min": 10}}
    assert build.read_changes(made, config) == ["FACE_SIZE 256 -> 128", "SAMPLE_FPS 5 -> 0"]  # BLUR_MIN: a filter
    assert pickle.loads(pickle.dumps(config)) == config  # what the worker processes get


@pytest.mark.parametrize("fields, error, message", [
    ({"person": "a/b"}, ValueError, "PERSON='a/b' is not a valid name"),
    ({"compare_with": "b"}, ValueError, "COMPARE_WITH='b': that is PERSON itself"),
    ({"compare_with": "../a"}, ValueError, "COMPARE_WITH='../a' is not a valid name"),
    ({"face_size": 100}, ValueError, "FACE_SIZE=100: use one of 64, 128, 160, 192, 256, 320, 384, 512"),
    ({"face_size": True}, ValueError, "FACE_SIZE=True: use one of"),
    ({"max_faces": 0}, ValueError, "MAX_FACES=0: must be a whole number in 1..8"),
    ({"max_faces": 9}, ValueError, "MAX_FACES=9: must be a whole number in 1..8"),
    ({"sample_fps": -1}, ValueError, "SAMPLE_FPS=-1: must be a number >= 0"),
    ({"min_face": 10}, ValueError, "MIN_FACE=10: must be a number >= 16"),
    ({"blur_min": -1.0}, ValueError, "BLUR_MIN=-1.0: must be a number >= 0"),
    ({"dedupe": "0.5"}, ValueError, "DEDUPE='0.5': must be a number >= 0"),
    ({"identity_max": -0.1}, ValueError, "IDENTITY_MAX=-0.1: must be a number >= 0"),
    ({"identity_every": 2.5}, ValueError, "IDENTITY_EVERY=2.5: must be a whole number >= 0"),
    ({"workers": -1}, ValueError, "WORKERS=-1: must be a whole number >= 0"),
    ({"grid_mask": "hair"}, ValueError, "GRID_MASK='hair': choose one of ('hull', 'hull-hair')"),
    ({"interactive": "no"}, ValueError, "INTERACTIVE='no': must be True or False"),
    ({"reference": "nobody.png"}, FileNotFoundError, "REFERENCE='nobody.png' is not a file: give a photo of the person"),
    ({"target_video": "nothing.mp4"}, FileNotFoundError, "TARGET_VIDEO='nothing.mp4' is neither a file, a sample"),
], ids=lambda v: "-".join(v) if isinstance(v, dict) else None)
def test_align_config_bad_parameter_is_one_line_naming_it(tmp_path, monkeypatch, fields, error, message):
    monkeypatch.chdir(tmp_path)  # REFERENCE and TARGET_VIDEO paths start from the current folder
    config = build.AlignConfig(**{"project": "p", "person": "b", "compare_with": "a", "data_dir": tmp_path, **fields})
    with pytest.raises(error) as err:
        config.validate()
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    # align_person checks the same way before it reads anything, from keywords too
    keywords = {"compare_with": "a", "progress": False, **fields}  # progress is INTERACTIVE for align_person
    keywords["progress"] = keywords.pop("interactive", keywords["progress"])
    with pytest.raises(error, match="^" + message.split("=")[0]):
        build.align_person(tmp_path, "p", keywords.pop("person", "b"), **keywords)
    assert not (tmp_path / "p").exists()


def test_align_person_takes_a_config_or_keywords(tmp_path):
    folder = paths.sources_dir(tmp_path, "p", "a")
    folder.mkdir(parents=True)
    shutil.copy(assets.fetch(CLIP, data_dir=tmp_path), folder)
    config = build.AlignConfig(project="p", person="a", face_size=64, sample_fps=5, identity_every=0, workers=1,
                                 data_dir=tmp_path)
    fs = build.align_person(config)
    assert fs.summary["frames_read"] == 15 and fs.summary["settings"] == config.settings() and len(fs.kept()) >= 5
    crop = fs.dir / fs.rows[0]["file"]
    before = crop.stat().st_mtime_ns
    again = build.align_person(tmp_path, "p", "a", face_size=64, sample_fps=5, identity_every=0, workers=1, progress=False)
    assert again.rows == fs.rows and crop.stat().st_mtime_ns == before  # the same settings: nothing read again
    with pytest.raises(TypeError, match="align_person\\(config\\) takes nothing else"):
        build.align_person(config, progress=False)
