"""swaplab.core.assets: the offline mirror, re-fetching a corrupt cache, and the error when nothing can be reached."""

import dataclasses
import shutil
import socket
from pathlib import Path

import pytest

from swaplab.core import assets

SHARED = Path(__file__).resolve().parents[2] / "shared"
KEY = "samples/grid/s2/pwij3p.mpg"  # a small clip (about 0.5 MB)


@pytest.fixture
def tmp_mirror(tmp_path, monkeypatch):
    """A mirror holding only KEY, copied from the shared one."""
    mirror = tmp_path / "mirror"
    (mirror / KEY).parent.mkdir(parents=True)
    shutil.copyfile(assets.mirror_dir() / KEY, mirror / KEY)
    monkeypatch.setenv("SWAPLAB_MIRROR", str(mirror))
    return mirror


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fetch_copies_from_the_mirror_into_the_cache(tmp_mirror, tmp_path):
    path = assets.fetch(KEY, data_dir=tmp_path / "data", progress=False)
    assert path == tmp_path / "data" / KEY
    assert assets.sha256_of(path) == assets.MANIFEST[KEY].sha256
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left beside it


def test_corrupt_cached_file_is_detected_and_fetched_again(tmp_mirror, tmp_path):
    path = assets.fetch(KEY, data_dir=tmp_path, progress=False)
    path.write_bytes(b"not the clip")
    again = assets.fetch(KEY, data_dir=tmp_path, progress=False)
    assert again == path and assets.sha256_of(again) == assets.MANIFEST[KEY].sha256


def test_corrupt_mirror_file_is_refused(tmp_mirror, tmp_path):
    (tmp_mirror / KEY).write_bytes(b"truncated")
    with pytest.raises(assets.AssetError, match="SHA-256"):
        assets.fetch(KEY, data_dir=tmp_path, progress=False)
    assert not (tmp_path / KEY).exists()


def test_offline_error_names_the_url_and_the_destination(tmp_path, monkeypatch):
    monkeypatch.setenv("SWAPLAB_MIRROR", str(tmp_path / "empty-mirror"))
    url = f"http://127.0.0.1:{closed_port()}/x"
    monkeypatch.setitem(assets.MANIFEST, KEY, dataclasses.replace(assets.MANIFEST[KEY], url=url))
    with pytest.raises(assets.AssetError) as err:
        assets.fetch(KEY, data_dir=tmp_path / "data", progress=False, timeout=5)
    dest = tmp_path / "data" / KEY
    assert url in str(err.value) and str(dest) in str(err.value) and "SWAPLAB_MIRROR" in str(err.value)
    assert not any(dest.parent.iterdir())  # the partial download was removed


def test_unknown_key_and_credits():
    with pytest.raises(assets.AssetError, match="unknown asset"):
        assets.fetch("samples/nope.mpg")
    assert assets.keys("samples/grid/s2/") == ["samples/grid/s2/id2_vcd_swwp2s.mpg", KEY]
    (line,) = assets.credits([f"/anywhere/{KEY}", "/not/a/sample.mp4"])
    assert "GRID" in line and "CC BY 4.0" in line
