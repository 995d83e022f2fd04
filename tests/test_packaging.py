"""The install files agree: environment.yml (conda) installs what pyproject.toml declares, with the same pins."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pip_section() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:")
    return [ln.strip()[2:].strip() for ln in lines[start + 1:] if ln.startswith("      - ")]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    env = [r for r in _pip_section() if not r.startswith("-e")]
    assert {_name(r): r.replace(" ", "") for r in declared} == {_name(r): r.replace(" ", "") for r in env}, (
        "environment.yml's pip section and pyproject.toml (dependencies + extras) must list the same packages and pins"
    )
    assert "-e ." in _pip_section(), "environment.yml must install the package itself (-e .)"
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_core_pins_are_exact():
    """TensorFlow, Keras and MediaPipe must agree (protobuf), so they are pinned exactly."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for pkg in ("tensorflow", "keras", "mediapipe"):
        (req,) = [d for d in deps if _name(d) == pkg]
        assert "==" in req, f"{pkg} must be pinned exactly, got {req!r}"
    assert not [d for d in deps if _name(d).startswith("opencv")], "mediapipe brings opencv-contrib-python; never add a second OpenCV wheel"


def test_installed_versions_match_pins():
    from importlib.metadata import version

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for d in deps:
        if "==" in d:
            name, pin = d.split("==")
            assert version(name) == pin, f"{name} {version(name)} installed, {pin} pinned: run `make setup`"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert re.search(r"^make test$", ci, re.M), ".ci/run must run the README's test command"
