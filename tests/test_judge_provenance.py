"""The leak guard on real files: a clip is known by its SHA-256, not its name; a run's provenance.json is read
against its schema; an older run is checked against its face sets' sources; 05_evaluate's config refuses a
self-swap on a clip the run trained on and, with ALLOW_SEEN, scores it labelled."""

from __future__ import annotations

import json
import shutil
import subprocess

import imageio_ffmpeg
import pytest

from swaplab.core import assets, paths
from swaplab.judge import evaluate, provenance
from swaplab.model import provenance as prov

TRAINED = "samples/grid/s1/bbaf2n.mpg"  # person a's source in the aligned_project fixture
UNSEEN = "samples/grid/s1/pwbq6p.mpg"


def _record(clip, name="a_clip.mp4") -> dict:
    src = {"name": name, "sha256": provenance.clip_sha256(clip), "faces": 31}
    return {"version": 1, "stages": {
        "autoencoder": {"a": {"faces_dir": "data/p/a/faces", "hash": "f00d", "count": 31, "sources": [src]},
                        "b": {"faces_dir": "data/p/b/faces", "hash": "beef", "count": 0, "sources": []}},
        "detail": {"a": {"faces_dir": "data/p/a/faces", "hash": "f00d", "count": 31, "sources": [src]}}}}


def test_a_clip_in_the_provenance_is_seen_by_content_not_by_name(tmp_path):
    trained, unseen = assets.fetch(TRAINED, data_dir=tmp_path), assets.fetch(UNSEEN, data_dir=tmp_path)
    run = tmp_path / "weights" / "p" / "r"
    run.mkdir(parents=True)
    (run / provenance.PROVENANCE_FILE).write_text(json.dumps(_record(trained)))
    renamed = tmp_path / "held_out_honest.mpg"  # the same bytes under another name
    shutil.copy(trained, renamed)
    found = provenance.check_clip(run, renamed)
    assert found["seen"] and found["provenance"] and found["sha256"] == provenance.clip_sha256(trained)
    assert [(o["stage"], o["person"], o["source"]) for o in found["overlap"]] == [("autoencoder", "a", "a_clip.mp4"),
                                                                              ("detail", "a", "a_clip.mp4")]
    assert found["line"].startswith(f"held_out_honest.mpg (sha256 {found['sha256'][:12]}) is what RUN='r' trained on: "
                                    "autoencoder/a source 'a_clip.mp4' (31 faces), detail/a")
    shutil.copy(unseen, tmp_path / "a_clip.mp4")  # the trained NAME, other bytes: not seen
    clean = provenance.check_clip(run, tmp_path / "a_clip.mp4")
    assert not clean["seen"] and "is not among what RUN='r' trained on; the content check could not run: the run has no " \
        "fingerprints.npz" in clean["line"] and not clean["content"]["ran"]


@pytest.mark.parametrize("change, problem", [
    (lambda r: r.update(version=2), "version is 2, not 1"),
    (lambda r: r.pop("stages"), 'it has no "stages" object'),
    (lambda r: r["stages"]["detail"]["a"].pop("hash"), "stages.detail.a.hash is missing or not a str"),
    (lambda r: r["stages"]["autoencoder"]["a"]["sources"][0].update(sha256="abc"),
     r"stages.autoencoder.a.sources\[0\] needs a name, a 64-digit sha256"),
])
def test_a_provenance_file_off_its_schema_is_named(tmp_path, change, problem):
    clip = assets.fetch(TRAINED, data_dir=tmp_path)
    record = _record(clip)
    change(record)
    (tmp_path / provenance.PROVENANCE_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=f"{provenance.PROVENANCE_FILE}: {problem}"):
        provenance.check_clip(tmp_path, clip)
    (tmp_path / provenance.PROVENANCE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="cannot be read"):
        provenance.read_provenance(tmp_path)


def test_a_run_without_provenance_is_checked_against_its_face_sets_sources(tmp_path):
    trained, unseen = assets.fetch(TRAINED, data_dir=tmp_path), assets.fetch(UNSEEN, data_dir=tmp_path)
    data = tmp_path / "data"
    for person in ("a", "b"):
        paths.sources_dir(data, "p", person).mkdir(parents=True)
    shutil.copy(trained, paths.sources_dir(data, "p", "a") / "speaker_one.mpg")
    (paths.sources_dir(data, "p", "a") / "manifest.json").write_text("{}")
    run = tmp_path / "weights" / "p" / "r"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"project": "p", "person_a": "a", "person_b": "b", "data_dir": str(data)}))
    found = provenance.check_clip(run, trained)
    assert found["seen"] and not found["provenance"] and found["overlap"][0]["source"] == "speaker_one.mpg"
    assert "the run has no provenance.json (an older run): checked the 1 files of" in found["line"]
    assert "p/b/sources missing or empty: not checked" in found["line"]
    assert not provenance.check_clip(run, unseen)["seen"]


def test_05s_config_refuses_a_seen_self_swap_and_scores_it_labelled_when_allowed(aligned_project, tmp_path):
    data, _, project = aligned_project  # person a's face set was made from TRAINED; there is no run
    copy = tmp_path / "renamed.mpg"
    shutil.copy(assets.fetch(TRAINED, data_dir=tmp_path), copy)
    base = dict(project=project, input=str(copy), swapped=str(copy), direction="a2a", holdout_faces=0,
                data_dir=str(data), weights_dir=str(tmp_path / "weights"))
    with pytest.raises(ValueError) as refused:
        evaluate.EvalConfig(**base).validate()
    line = str(refused.value)
    assert "\n" not in line and line.startswith(f"INPUT={str(copy)!r}: renamed.mpg (sha256 ")
    assert "sources/a source 'bbaf2n.mpg'" in line and "ALLOW_SEEN=True" in line
    config = evaluate.EvalConfig(**base, allow_seen=True).validate()
    assert config.seen["seen"] and config.seen["overlap"][0]["person"] == "a"
    swap = {**base, "direction": "a2b"}  # a swap to the other person is scored, and says it is seen
    assert evaluate.EvalConfig(**swap).validate().seen["seen"]
    with pytest.raises(ValueError, match="ALLOW_SEEN=1: must be True or False"):
        evaluate.EvalConfig(**base, allow_seen=1).validate()
    unseen = evaluate.EvalConfig(**{**base, "input": str(assets.fetch(UNSEEN, data_dir=tmp_path))}).validate()
    assert not unseen.seen["seen"]


def _cut(src, out, start: float, duration: float, crf: int, scale: float):
    """A piece of ``src`` from an odd ``start``, scaled and re-encoded (H.264 at ``crf``): other bytes, the same faces."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(src), "-ss", str(start), "-t",
                    str(duration), "-vf", f"scale=trunc(iw*{scale}/2)*2:-2", "-c:v", "libx264", "-crf", str(crf), "-an",
                    str(out)], check=True)
    return out


def test_a_cut_of_a_trained_clip_re_encoded_is_seen_by_its_faces_and_another_clip_of_the_speaker_is_not(aligned_project, tmp_path):
    data, _, project = aligned_project  # a: s1 bbaf2n (12.5 fps), b: s2 pwij3p
    stages = {"autoencoder": {p: prov.of_face_set(paths.faces_dir(data, project, p)) for p in ("a", "b")}}
    run = tmp_path / "weights" / project / "r"
    run.mkdir(parents=True)
    assert sorted(prov.write_pending(run, "", stages)) == [prov.FINGERPRINTS, prov.PROVENANCE]
    source = stages["autoencoder"]["a"]["sources"][0]
    assert source["name"] == "bbaf2n" and 0.0 <= source["time"][0] < 0.5 and 2.5 < source["time"][1] <= 3.0
    prints = prov.read_fingerprints(run / prov.FINGERPRINTS)
    assert sorted(prints) == sorted((s["name"], s["sha256"]) for e in stages["autoencoder"].values() for s in e["sources"])
    assert len(prints[("bbaf2n", source["sha256"])][0]) == source["faces"]

    piece = _cut(assets.fetch(TRAINED, data_dir=tmp_path), tmp_path / "piece.mp4", 0.53, 1.8, 30, 0.75)
    found = provenance.check_clip(run, piece)
    assert found["seen"] and found["content"]["ran"], found["line"]
    hit = found["overlap"][0]
    assert (hit["stage"], hit["person"], hit["source"]) == ("autoencoder", "a", "bbaf2n")
    assert abs(hit["source_time"][0] - hit["clip"][0] - 0.53) <= 0.1  # the offset the cut was made at
    assert "\n" not in found["line"] and found["line"].startswith("piece.mp4 (sha256 ")
    assert f"match source 'bbaf2n' {hit['source_time'][0]:.1f}-" in found["line"] and "the run trained on (autoencoder/a;" in found["line"]

    other = _cut(assets.fetch(UNSEEN, data_dir=tmp_path), tmp_path / "other.mp4", 0.53, 1.8, 30, 0.75)
    clean = provenance.check_clip(run, other)  # the same speaker, session, framing and encoding; other words
    assert not clean["seen"] and clean["content"]["ran"] and clean["content"]["best"]["score"] < provenance.MIN_SCORE
    assert "nor are its faces (" in clean["line"] and "cut from any of its 2 sources' faces" in clean["line"]
    assert provenance.check_clip(run, assets.fetch(TRAINED, data_dir=tmp_path))["content"] is None  # the hash decided
