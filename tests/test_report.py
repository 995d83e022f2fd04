"""report: the 300-face rule, pose coverage warnings against a head-turn video, quiet on matched sets, plots."""

import shutil

import pytest

from swaplab.align import build, report
from swaplab.core import assets, paths


def _set(data, person, *keys):
    folder = paths.sources_dir(data, "r", person)
    folder.mkdir(parents=True, exist_ok=True)
    for k in keys:
        shutil.copy(assets.fetch(k), folder)
    return build.align_person(data, "r", person, sample_fps=5, identity_every=0, workers=1, progress=False)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """Two small frontal face sets of GRID speaker s1 (different clips): no profile faces at all."""
    data = tmp_path_factory.mktemp("data")
    return data, _set(data, "a", "samples/grid/s1/bbaf2n.mpg"), _set(data, "b", "samples/grid/s1/lgil4n.mpg")


def test_count_rule(sets):
    _, a, b = sets
    words = report.coverage_warnings(report.coverage(a, b))
    assert f"b has {len(b)} faces; 300 is the floor for a usable swap, 1000+ is good: collect more footage of b" in words


def test_quiet_on_matched_sets(sets):
    _, a, b = sets
    cov = report.coverage(a, b)
    assert [w for w in cov["warnings"] if "is the floor" not in w] == []
    assert cov["b"]["poses"]["turned left"] == 0 and cov["a"]["faces"] == len(a)


def test_profile_video_warns_about_missing_poses(sets):
    _, a, b = sets
    gif = assets.fetch("samples/headpose/head-pose-face-detection-female.gif")  # yaw -43..+31
    cov = report.coverage(a, b, target=gif)
    assert cov["target"]["poses"]["turned left"] > 0.2 and cov["target"]["poses"]["turned right"] > 0.1
    pose = [w for w in cov["warnings"] if w.startswith("b has no faces turned")]
    assert len(pose) == 2 and all("swaps in that pose will fail" in w for w in pose), cov["warnings"]
    assert any(w.startswith("a has no faces turned to the image's left") for w in cov["warnings"])


def test_plots_are_saved(sets):
    data, a, b = sets
    out = paths.reports_dir(data, "r")
    report.plot_coverage(a, b, path=out / "coverage.png")
    report.plot_faces(b, b.kept(), "kept", n=12, path=out / "kept.png")
    report.plot_faces(b, [], "dropped", path=out / "dropped.png")  # an empty grid is a titled blank, not an error
    report.plot_faces(b, b.kept(), "kept", n=4, path=out / "masks.png", mask="hull-hair")  # the paste mask on each crop
    assert all((out / f).stat().st_size > 5000 for f in ("coverage.png", "kept.png", "masks.png"))
