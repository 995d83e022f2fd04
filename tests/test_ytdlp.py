"""Real yt-dlp downloads through swaplab.collect.sources, from a local HTTP server on 127.0.0.1 (generic extractor)."""

import functools
import http.server
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from swaplab.collect import sources as collect
from swaplab.core import assets, video

SHARED = Path(__file__).resolve().parents[2] / "shared"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def clip_url(tmp_path_factory):
    """URL of a 3 s H.264/AAC mp4 (made from a GRID sample) served from a thread on an ephemeral port."""
    root = tmp_path_factory.mktemp("www")
    mpg = assets.fetch("samples/grid/s1/bbaf2n.mpg", data_dir=root / "cache", progress=False)
    subprocess.run([video.ffmpeg_exe(), "-v", "error", "-i", str(mpg), "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-movflags", "+faststart", str(root / "clip.mp4")], check=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/clip.mp4"
    server.shutdown()
    server.server_close()


def stored(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_whole_clip_then_skip_it(clip_url, tmp_path):
    done = collect.add_sources(tmp_path, "p", "a", [clip_url], progress=False)
    (entry,) = done.added
    assert entry["kind"] == "url" and entry["origin"] == clip_url and entry["file"] == "001-clip.mp4"
    assert entry["duration"] == pytest.approx(3.0, abs=0.05) and entry["has_audio"] and entry["resolution"] == "360x288"
    folder = tmp_path / "p" / "a" / "sources"
    assert stored(folder) == ["001-clip.mp4", "manifest.json"]
    again = collect.add_sources(tmp_path, "p", "a", [clip_url], progress=False)
    assert again.added == [] and [e["id"] for e in again.existing] == ["001"]


def test_download_only_a_time_range(clip_url, tmp_path):
    (entry,) = collect.add_sources(tmp_path, "p", "a", [clip_url], ["00:01-00:02"], progress=False).added
    assert entry["range"] == "00:01-00:02" and entry["duration"] == pytest.approx(1.0, abs=0.1)
    durations = video.stream_durations(tmp_path / "p" / "a" / "sources" / entry["file"])
    assert durations["video"] == pytest.approx(1.0, abs=0.1) and durations["audio"] == pytest.approx(1.0, abs=0.1)


def test_unreachable_url_is_one_clear_error(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/gone.mp4"
    with pytest.raises(collect.CollectError) as err:
        collect.add_sources(tmp_path, "p", "a", [url], progress=False)
    msg = str(err.value)
    assert url in msg and "could not download" in msg and "\n" not in msg
    assert stored(tmp_path / "p" / "a" / "sources") == []
