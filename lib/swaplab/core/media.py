"""What a media file is: the ffmpeg binary, ``probe`` (fps, frame count, size, duration, audio),
``verify`` (a written file plays to its end), stream durations, time ranges, and the image and video
files of a folder. ``swaplab.core.video`` reads and writes frames on top of it and re-exports these names.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swaplab.core.paths import IMAGE_EXTS, VIDEO_EXTS  # stills: an image folder or one image is read as frames

_DAMAGE = re.compile(r"error|corrupt|damaged|concealing|invalid|missing", re.I)
FOLDER_FPS = 25.0  # frames of an image folder are given this rate, so times and ranges mean something


class VideoError(RuntimeError):
    """A source that cannot be read or an output that cannot be written."""


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped in the imageio-ffmpeg wheel (``$IMAGEIO_FFMPEG_EXE`` overrides)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    frame_count: int  # from duration x fps for files (exact for image folders)
    width: int
    height: int
    duration: float  # seconds
    has_audio: bool
    codec: str  # "mpeg1video", "gif", "h264", "images", ...
    tags: dict = field(default_factory=dict)  # container metadata (title, comment, ...)

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class Frame:
    index: int  # frame number in the source (0 = first frame of the file, not of the range)
    time: float  # seconds from the start of the source
    image: np.ndarray  # (H, W, 3) uint8 RGB


# ---------------------------------------------------------------- probing


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))


def video_files(folder: Path) -> list[Path]:
    """The videos (``VIDEO_EXTS``, GIFs included) directly in ``folder``, sorted; hidden files and subfolders aside."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTS and not p.name.startswith(".")
                  and p.is_file())


def probe(path: str | Path) -> VideoInfo:
    """Describe a video file, an image folder or an image; raise ``VideoError`` for anything else."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path} does not exist: check the path (relative paths start from the notebook's folder)")
    if path.is_dir():
        files = image_files(path)
        if not files:
            raise VideoError(f"{path} holds no images ({', '.join(IMAGE_EXTS)}): add images or point to a video file")
        h, w = _read_image(files[0]).shape[:2]
        return VideoInfo(path, FOLDER_FPS, len(files), w, h, len(files) / FOLDER_FPS, False, "images")
    if path.suffix.lower() in IMAGE_EXTS:
        h, w = _read_image(path).shape[:2]
        return VideoInfo(path, FOLDER_FPS, 1, w, h, 1 / FOLDER_FPS, False, "image")
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True, errors="replace").stderr
    video = re.search(r"Stream #\d+:\d+.*?: Video: (\w+)(.*)", out)
    if not video:
        last = out.strip().splitlines()[-2:] if out.strip() else ["no output"]
        raise VideoError(f"{path} is not a readable video (ffmpeg: {' '.join(last)[-160:]}): check that the file is complete and is a video")
    size = re.search(r"(\d{2,5})x(\d{2,5})", video.group(2))
    rate = re.search(r"([\d.]+) fps", video.group(2)) or re.search(r"([\d.]+) tbr", video.group(2))
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", out)
    if not (size and rate):
        raise VideoError(f"{path}: ffmpeg could not tell the frame size or rate; re-encode it (e.g. to mp4) and try again")
    fps = float(rate.group(1))
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else 0.0
    return VideoInfo(
        path=path,
        fps=fps,
        frame_count=int(duration * fps + 0.5),
        width=int(size.group(1)),
        height=int(size.group(2)),
        duration=duration,
        has_audio=bool(re.search(r"Stream #\d+:\d+.*?: Audio:", out)),
        codec=video.group(1),
        tags=_format_tags(out),
    )


def _format_tags(ffmpeg_stderr: str) -> dict:
    """Container-level ``Metadata:`` of the first input (stream metadata is indented deeper)."""
    tags: dict[str, str] = {}
    block = re.search(r"Input #0.*?\n  Metadata:\n((?:    .*\n)+)", ffmpeg_stderr)
    if block:
        for line in block.group(1).splitlines():
            key, _, value = line.strip().partition(":")
            tags[key.strip()] = value.strip()
    return tags


def verify(path: str | Path, name: str | None = None,
           advice: str = "download or copy it again, or re-encode the part that plays") -> VideoInfo:
    """``probe`` a source and decode its last second; raise ``VideoError`` if it is unreadable or cut short.

    The rule: ffmpeg must read the header (``probe``) and tell the duration, and
    decoding the last second (from ``duration - 1 s``) must give at least half the
    frames the header promises there, with no decode error. A download cut off
    mid-way fails one or the other: an mp4 whose index says 3 s but whose data stops
    earlier decodes nothing there, and an MPEG file cut mid-frame reports damaged
    blocks; an image renamed .mp4 has no duration. Only the tail is decoded, so this
    costs well under a second even for long videos. Image folders and images are
    checked by ``probe`` alone. ``name`` stands for ``path`` in messages; ``advice``
    ends the message for a cut-short file.
    """
    name = name or str(path)
    try:
        info = probe(path)
    except VideoError as e:
        raise VideoError(str(e).replace(str(path), name)) from None
    if info.codec in {"images", "image"}:
        return info
    if info.duration <= 0 or info.fps <= 0:
        raise VideoError(f"{name}: ffmpeg cannot tell its duration ({info.codec}, not a video?); "
                         "re-encode it to mp4 (e.g. with ffmpeg) and use that")
    start = max(0.0, info.duration - 1.0)
    err = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-stats", "-ss", f"{start:.3f}",
         "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
        check=False, capture_output=True, text=True, errors="replace",
    ).stderr
    counts = re.findall(r"frame=\s*(\d+)", err)
    decoded = int(counts[-1]) if counts else 0
    damage = [line for line in err.splitlines() if line.strip() and "frame=" not in line]
    expected = (info.duration - start) * info.fps
    if decoded < expected / 2 or damage:
        why = f"decode errors ({damage[0][-100:]})" if damage else f"only {decoded} of ~{expected:.0f} frames decode"
        raise VideoError(f"{name} looks truncated: in its last second {why}; {advice}")
    return info


def stream_durations(path: str | Path) -> dict[str, float]:
    """Seconds of each stream kind ("video", "audio") in a media file, by remuxing to null (fast, no decode).

    Video length is its packet count over the frame rate (exact for constant-rate
    files); audio length is the end time ffmpeg reports.
    """
    fps = probe(path).fps
    out: dict[str, float] = {}
    for kind, sel in (("video", "0:v:0"), ("audio", "0:a:0")):
        err = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", sel, "-c", "copy", "-f", "null", "-"],
            capture_output=True, text=True, errors="replace",
        ).stderr
        frames = re.findall(r"frame=\s*(\d+)", err)
        times = re.findall(r"time=(\d+):(\d+):([\d.]+)", err)
        if kind == "video" and frames:
            out[kind] = int(frames[-1]) / fps
        elif kind == "audio" and times:
            h, m, s = times[-1]
            out[kind] = int(h) * 3600 + int(m) * 60 + float(s)
    return out


def parse_time(value: str | float | int | None) -> float | None:
    """Seconds from ``12.5``, ``"12.5"``, ``"MM:SS"`` or ``"HH:MM:SS(.ms)"``; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    parts = str(value).strip().split(":")
    try:
        secs = 0.0
        for p in parts:
            secs = secs * 60 + float(p)
    except ValueError:
        raise ValueError(f"time {value!r} is not understood: use seconds (12.5), MM:SS or HH:MM:SS") from None
    if secs < 0 or len(parts) > 3:
        raise ValueError(f"time {value!r} is not understood: use seconds (12.5), MM:SS or HH:MM:SS")
    return secs


def parse_range(value: str | None) -> tuple[float, float | None]:
    """``"MM:SS-MM:SS"`` -> (start, duration); ``"MM:SS-"`` -> (start, None); None -> (0, None)."""
    if value is None or str(value).strip() in {"", "-"}:
        return 0.0, None
    start_s, sep, end_s = str(value).partition("-")
    if not sep:
        raise ValueError(f"time range {value!r} is not understood: use 'MM:SS-MM:SS' (or 'MM:SS-' to the end)")
    start = parse_time(start_s) or 0.0
    end = parse_time(end_s)
    if end is not None and end <= start:
        raise ValueError(f"time range {value!r} ends before it starts: the second time must be later")
    return start, (None if end is None else end - start)


def _read_image(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise VideoError(f"{path} is not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
