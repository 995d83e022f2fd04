"""Getting one source's bytes into a staging folder (01_collect): downloaded by yt-dlp, cut by ffmpeg, copied or
linked, then checked (``verify_video``: probe + decode of its last second) before ``sources`` renames it in."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from swaplab.core import assets, video

log = logging.getLogger("swaplab.collect.sources")

YTDLP_FORMAT = "bv*[ext=mp4]+ba[ext=m4a]/b[ext=mp4]/b"  # best mp4 with audio, else the best single file
_STAGING = ".incoming-"  # prefix of the hidden staging folders inside sources/


class CollectError(RuntimeError):
    """A source that cannot be collected; the message names it and says what to do."""


def verify_video(path: str | Path, name: str | None = None) -> video.VideoInfo:
    """Probe a source and decode its last second; raise ``CollectError`` if it is unreadable or cut short.

    The rule is ``video.verify``'s (04_swap checks its INPUT with it too). ``name``
    stands for ``path`` in messages (a staged copy's path means nothing to the user).
    """
    try:
        return video.verify(path, name, advice="download or copy it again (or re-encode the part that plays) "
                                              "and add it again")
    except video.VideoError as e:
        raise CollectError(str(e)) from None


class _YtdlpLog:
    """yt-dlp's logger: errors come back in DownloadError, warnings go to logging, chatter is dropped."""

    def debug(self, msg: str) -> None:
        pass

    info = debug

    def warning(self, msg: str) -> None:
        log.warning("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        pass


def download(url: str, dest_dir: str | Path, start: float = 0.0, duration: float | None = None,
             progress: bool = False, timeout: float = 20.0, retries: int = 3) -> Path:
    """Download one video with yt-dlp into ``dest_dir`` (only ``start``..``start+duration`` s); return its path.

    ``dest_dir`` should be a staging folder: yt-dlp leaves ``.part`` files there
    when it fails. Ranges are cut by ffmpeg (the imageio-ffmpeg binary) with
    keyframes forced at the cuts, so the clip starts on the requested frame.
    """
    import yt_dlp
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor
    from yt_dlp.utils import DownloadError, download_range_func

    dest_dir = Path(dest_dir)
    ffmpeg = video.ffmpeg_exe()
    opts = {
        "format": YTDLP_FORMAT,
        "merge_output_format": "mp4",
        "outtmpl": str(dest_dir / "%(id).80s.%(ext)s"),
        "noplaylist": True,
        "quiet": True,
        "noprogress": not progress,
        "retries": retries,
        "socket_timeout": timeout,
        "ffmpeg_location": ffmpeg,
        "logger": _YtdlpLog(),
    }
    if start > 0 or duration is not None:
        end = float("inf") if duration is None else start + duration
        opts.update(download_ranges=download_range_func(None, [(start, end)]), force_keyframes_at_cuts=True)

    def run() -> dict:
        # yt-dlp asks "is ffmpeg available?" without its options when cutting ranges
        # (FFmpegFD.available), reading only this context variable, which its CLI sets;
        # set it inside a copied context so nothing leaks to other callers.
        FFmpegPostProcessor._ffmpeg_location.set(ffmpeg)
        with yt_dlp.YoutubeDL(opts) as ydl:
            return ydl.extract_info(url, download=True)

    try:
        info = contextvars.copy_context().run(run)
    except DownloadError as e:
        msg = re.sub(r"^ERROR:\s*", "", str(e)).split(" (caused by")[0]
        raise CollectError(f"could not download {url}: {msg}. Check the URL and the network, "
                           "or download the video by hand and list the file in SOURCES") from None
    files = [Path(d["filepath"]) for d in (info or {}).get("requested_downloads") or [] if d.get("filepath")]
    if not files or not files[0].exists():
        raise CollectError(f"yt-dlp reported no file for {url}: it may be a playlist or a page without a video; give a direct video URL")
    return files[0]


@contextlib.contextmanager
def _staging(folder: Path):
    """A hidden staging folder inside ``folder`` (same file system, so moving out is a rename), always removed."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_STAGING, dir=folder))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _stage(src, tmp: Path, link: bool, progress: bool) -> Path:
    """Put the source's bytes in ``tmp``: downloaded, cut, copied or linked."""
    if src.kind == "url":
        return download(src.origin, tmp / "download", src.start, src.duration, progress=progress)
    assert src.path is not None
    if not src.path.exists():
        raise CollectError(f"{src.path} no longer exists: check the path")
    if src.kind == "folder":
        dest = tmp / src.path.name
        if link:
            dest.symlink_to(src.path, target_is_directory=True)
        else:
            dest.mkdir()
            for f in video.image_files(src.path):  # only the images, in order
                shutil.copy2(f, dest / f.name)
        return dest
    video.probe(src.path)  # a clear "not a readable video" before ffmpeg is asked to cut it
    if src.range or src.kind == "webcam":
        dest = tmp / f"{src.path.stem}.mp4"
        _reencode(src.path, dest, src.start, src.duration)
        return dest
    dest = tmp / src.path.name
    if link:
        try:
            os.link(src.path, dest)
        except OSError:  # another file system, or links not allowed there
            dest.symlink_to(src.path)
    else:
        shutil.copy2(src.path, dest)
    return dest


def _reencode(path: Path, dest: Path, start: float, duration: float | None) -> None:
    """Cut ``start``..``start+duration`` of ``path`` to H.264/AAC mp4 (re-encoded, so the cut is frame-exact)."""
    cmd = [video.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y"]
    if start > 0:
        cmd += ["-ss", f"{start:.3f}"]
    cmd += ["-i", str(path)]
    if duration is not None:
        cmd += ["-t", f"{duration:.3f}"]
    cmd += ["-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
            "-pix_fmt", "yuv420p", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:a", "aac", "-b:a", "128k",
            "-movflags", "+faststart", str(dest)]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, errors="replace")
    if res.returncode != 0:
        raise CollectError(f"ffmpeg could not cut {path} ({res.stderr.strip()[-160:]}): check the time range and the file")


def _folder_sha256(folder: Path) -> str:
    """One digest for an image folder: SHA-256 over its sorted "name sha256" lines."""
    lines = [f"{f.name} {assets.sha256_of(f)}\n" for f in video.image_files(folder)]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _slug(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._")[:60] or "source"
