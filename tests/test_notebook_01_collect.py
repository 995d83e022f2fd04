"""01_collect runs headless through papermill on the GRID s1 samples, and a re-run adds nothing."""

import time
from pathlib import Path

import pytest

from swaplab.core import assets, files
from swaplab.notebook.runner import run_notebook

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.mark.notebook
def test_01_collect_on_s1_samples(tmp_path):
    data = tmp_path / "data"
    params = {"PROJECT": "nbtest", "PERSON": "a", "SOURCES": ["samples/grid/s1/"], "DATA_DIR": str(data),
              "CONSENT_NOTE": "GRID corpus speaker s1, CC BY 4.0"}
    t0 = time.time()
    run_notebook("01_collect", params, tmp_path / "run1")
    assert time.time() - t0 < 60

    sources = data / "nbtest" / "a" / "sources"
    entries = files.read_json(sources / "manifest.json")["sources"]
    assert len(entries) == 30 and {e["asset"] for e in entries} == set(assets.keys("samples/grid/s1/"))
    assert all(e["sha256"] == assets.MANIFEST[e["asset"]].sha256 for e in entries)
    assert all((e["fps"], e["resolution"], e["has_audio"]) == (25.0, "360x288", True) for e in entries)
    assert all("speaker s1" in e["credits"][0] and e["consent_note"].startswith("GRID") for e in entries)
    reports = data / "nbtest" / "reports"
    assert (reports / "01_collect_a.png").stat().st_size > 10_000
    summary = files.read_json(reports / "01_collect_a.json")
    assert (summary["sources"], summary["total_frames"], len(summary["added"])) == (30, 2250, 30)

    before = {p.name: p.stat().st_mtime_ns for p in sources.iterdir() if p.name != "manifest.json"}
    run_notebook("01_collect", params, tmp_path / "run2")
    after = {p.name: p.stat().st_mtime_ns for p in sources.iterdir() if p.name != "manifest.json"}
    assert after == before  # nothing copied again
    summary = files.read_json(reports / "01_collect_a.json")
    assert summary["added"] == [] and summary["already_there"] == 30
