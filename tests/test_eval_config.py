"""evaluate.EvalConfig: 05_evaluate's parameters, checked in one call on real files (no mocks).

Every mistake fails in ``validate()`` with one line that names the PARAMETER and
says what to do; the values are checked before any file is looked for; a valid
config carries what the later cells read (the people, the input, the swap, the
face sets, the other identities, the run, the metrics path).
"""

from __future__ import annotations

import ast
import json
from dataclasses import fields
from pathlib import Path

import pytest

from swaplab.core import paths, video
from swaplab.judge import evaluate

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_evaluate.ipynb"


def _config(p: dict, **changes) -> evaluate.EvalConfig:
    """An EvalConfig of the swapped project (a2b of a held-back s1 clip), with ``changes``."""
    base = dict(project=p["project"], run=p["run"], input=str(p["input"]), direction=p["direction"],
                data_dir=str(p["data_dir"]), weights_dir=str(p["weights_dir"]))
    return evaluate.EvalConfig(**{**base, **changes})


def test_defaults_are_the_notebooks_parameters():
    nb = json.loads(NOTEBOOK.read_text())
    (cell,) = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    params = {n.target.id: ast.literal_eval(n.value) for n in ast.parse("".join(cell["source"])).body}
    defaults = evaluate.EvalConfig()
    init = {f.name.upper() for f in fields(evaluate.EvalConfig) if f.init}
    assert init == set(params)
    assert {name: getattr(defaults, name.lower()) for name in params} == params
    assert defaults.source is None and defaults.metrics_json is None  # resolved by validate() only


def test_from_parameters_maps_names_and_ignores_the_rest():
    config = evaluate.EvalConfig.from_parameters({"PROJECT": "p", "DIRECTION": "b2a", "HOLDOUT_FACES": 0, "S": 1, "Path": Path})
    assert (config.project, config.direction, config.holdout_faces, config.run) == ("p", "b2a", 0, "main")


@pytest.mark.parametrize("changes, match", [
    ({"project": "../x"}, r"PROJECT='\.\./x' is not a valid name"),
    ({"run": "a/b"}, r"RUN='a/b' is not a valid name"),
    ({"person_b": ""}, r"PERSON_B='' is not a valid name"),
    ({"direction": "a2c"}, r"DIRECTION='a2c': use one of"),
    ({"holdout_faces": -1}, r"^HOLDOUT_FACES=-1: must be a whole number >= 0 \(0 skips reconstruction\)$"),
    ({"holdout_faces": True}, r"^HOLDOUT_FACES=True: must be a whole number"),
    ({"identity_frames": 0}, r"^IDENTITY_FRAMES=0: must be a whole number >= 1$"),
    ({"identity_frames": 2.5}, r"^IDENTITY_FRAMES=2\.5: must be a whole number"),
    ({"input": ""}, r"^INPUT='': give the video that was swapped"),
    ({"data_dir": None}, r"^DATA_DIR=None: give the folder where projects live"),
    ({"swapped": 3}, r"^SWAPPED=3: give the swapped video's path"),
    ({"distractors": "faces"}, r"^DISTRACTORS='faces': give a list of faces/ folders"),
    ({"interactive": "no"}, r"^INTERACTIVE='no': must be True or False"),
])
def test_bad_values_name_the_parameter_before_any_file_is_read(tmp_path, changes, match):
    """The values fail first, in a second: the input and the project need not exist yet."""
    config = evaluate.EvalConfig(**{"data_dir": str(tmp_path), "weights_dir": str(tmp_path), "input": "missing.mp4", **changes})
    with pytest.raises(ValueError, match=match):
        config.validate()
    assert config.input_path is None  # nothing was looked for


def test_an_input_that_is_not_there_or_not_a_video(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^INPUT='missing\.mp4' is neither a file, a sample"):
        evaluate.EvalConfig(data_dir=str(tmp_path), input="missing.mp4").validate()
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(video.VideoError, match=r"^INPUT='.*bad\.mp4': .*is not a readable video") as e:
        evaluate.EvalConfig(data_dir=str(tmp_path), input=str(bad)).validate()
    assert "\n" not in str(e.value) and e.value.__context__ is None  # one line, one error


def test_a_valid_config_resolves_what_the_later_cells_read(swapped_project):
    p = swapped_project
    config = _config(p)
    assert config.validate() is config
    assert (config.source, config.target) == ("a", "b")
    assert config.input_path == Path(p["input"]) and config.input_info.fps > 0
    assert config.swap == {"swapped": Path(p["swapped"]), "start": 0.0, "duration": None, "from": "04_swap's default output path",
                           "report": None}
    assert not config.seen["seen"] and config.seen["provenance"]  # the held-back clip, checked against the run's provenance
    assert config.faces == {person: paths.faces_dir(p["data_dir"], p["project"], person) for person in ("a", "b")}
    assert config.others == {}  # a and b are the source and the target: no one else in the project
    assert config.run_dir == paths.run_dir(p["weights_dir"], p["project"], p["run"])
    assert config.reports == paths.reports_dir(p["data_dir"], p["project"])
    assert config.metrics_json == config.reports / "metrics_a2b.json"


def test_a_self_swap_votes_among_every_person(swapped_project):
    p = swapped_project
    config = _config(p, direction="a2a", swapped=str(p["swapped"])).validate()
    assert (config.source, config.target) == ("a", "a")
    assert config.others == {"b": paths.faces_dir(p["data_dir"], p["project"], "b")}
    assert config.swap["from"] == "SWAPPED" and config.metrics_json.name == "metrics_a2a.json"


def test_a_missing_swap_says_run_04_swap(swapped_project):
    with pytest.raises(FileNotFoundError, match=r"run 04_swap on .* with DIRECTION='b2a' first, or set SWAPPED"):
        _config(swapped_project, direction="b2a").validate()
    with pytest.raises(FileNotFoundError, match=r"nope\.mp4 \(from SWAPPED\) does not exist"):
        _config(swapped_project, swapped="nope.mp4").validate()


def test_a_missing_face_set_names_the_person(swapped_project):
    with pytest.raises(FileNotFoundError, match=r"^PERSON_B='c': .* is empty: run 02_align for person c first$") as e:
        _config(swapped_project, person_b="c").validate()
    assert e.value.__context__ is None


def test_a_distractor_must_be_a_face_set(swapped_project, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"DISTRACTORS: .* is not a face set"):
        _config(swapped_project, distractors=[str(tmp_path)]).validate()
    faces_b = paths.faces_dir(swapped_project["data_dir"], swapped_project["project"], "b")
    config = _config(swapped_project, direction="a2a", swapped=str(swapped_project["swapped"]),
                     distractors=[str(faces_b)]).validate()
    assert set(config.others) == {"b", f"b@{swapped_project['project']}"}


def test_reconstruction_needs_a_trained_run(swapped_project):
    with pytest.raises(FileNotFoundError, match=r"^RUN='nope': .* has no trained run: train it with 03_train first, "
                                                r"or set HOLDOUT_FACES=0$"):
        _config(swapped_project, run="nope").validate()
    config = _config(swapped_project, run="nope", holdout_faces=0).validate()  # no model needed: no reconstruction
    assert config.run_dir.name == "nope"
