"""Frames in and video out, with ffmpeg (the imageio-ffmpeg binary) doing the codec work.

Reading: ``probe(path)`` says what a source is (fps, frame count, size, duration,
audio); ``FrameReader(path, start, duration, every, width)`` yields ``Frame``s
(RGB uint8 ``(H, W, 3)``) from any file ffmpeg reads (MPEG-1 ``.mpg``, GIF, mp4,
...), a folder of images, or one image. Decoding runs in the ffmpeg process and a
reader thread fills a small queue, so the caller's work on frame ``n`` overlaps
the decoding of frame ``n+1``.

Writing: ``VideoWriter(path, fps, audio_from=..., audio_start=..., audio_duration=...)``
pipes RGB frames to ffmpeg from a writer thread, encodes H.264 ``.mp4`` with the
audio of a source range muxed in (AAC), tags the container, and renames the file
into place only when complete: an interrupted run leaves nothing at ``path``, and
the hidden temporary file a killed run could not delete is removed by the next
writer of the same ``path`` (``files.temp_path``).
The names of ``swaplab.core.media`` (``probe``, ``VideoInfo``, ``VideoError``, ...) are re-exported here,
so ``video`` is the one module a stage imports for media.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from swaplab.core.files import make_readable, run_ahead, temp_path
from swaplab.core.media import (  # noqa: F401  (re-exported: video.probe, video.VideoError, ...)
    _DAMAGE,
    FOLDER_FPS,
    Frame,
    VideoError,
    VideoInfo,
    _read_image,
    ffmpeg_exe,
    image_files,
    parse_range,
    parse_time,
    probe,
    stream_durations,
    verify,
    video_files,
)


class FrameReader:
    """Iterate over the frames of a source, decoded ahead of the caller.

    ``start``/``duration`` (seconds) select a range, ``every`` keeps one frame in
    ``every`` (frame sampling), ``width`` resizes keeping the aspect (even height).
    After iteration ``frames_read`` and ``errors`` (decode errors ffmpeg reported,
    or unreadable images skipped) tell what happened.
    """

    def __init__(
        self,
        path: str | Path,
        start: float = 0.0,
        duration: float | None = None,
        every: int = 1,
        width: int | None = None,
        prefetch: int = 8,
    ):
        self.info = probe(path)
        if every < 1:
            raise ValueError(f"every={every} must be >= 1 (keep one frame in `every`)")
        if duration is not None and duration <= 0:
            raise ValueError(f"duration={duration} must be > 0 seconds (or None for the rest of the source)")
        if self.info.codec not in {"images", "image"} and self.info.duration and start >= self.info.duration:
            raise ValueError(f"start={start:.2f}s is past the end of {self.info.path} ({self.info.duration:.2f}s): choose an earlier start")
        self.start, self.duration, self.every, self.width = float(start), duration, int(every), width
        self.prefetch = prefetch
        self.frames_read = 0
        self.errors = 0
        self.out_size = self._out_size()

    def _out_size(self) -> tuple[int, int]:
        w, h = self.info.width, self.info.height
        if self.width:
            h = int(round(h * self.width / w / 2)) * 2
            w = int(self.width)
        return w, h

    def __iter__(self) -> Iterator[Frame]:
        produce = self._images if self.info.codec in {"images", "image"} else self._ffmpeg
        frames = run_ahead(produce, self.prefetch, "swaplab-reader")
        try:
            for frame in frames:
                self.frames_read += 1
                yield frame
        finally:
            frames.close()  # stops the reader thread, which kills ffmpeg

    def _frame_index(self, i: int) -> int:
        return int(round(self.start * self.info.fps)) + i * self.every

    def _images(self, stop: threading.Event) -> Iterator[Frame]:
        import cv2

        files = [self.info.path] if self.info.codec == "image" else image_files(self.info.path)
        first = int(round(self.start * self.info.fps))
        last = len(files) if self.duration is None else min(len(files), first + int(round(self.duration * self.info.fps)))
        for idx in range(first, last, self.every):
            if stop.is_set():
                return
            try:
                img = _read_image(files[idx])
            except VideoError:
                self.errors += 1
                continue
            if img.shape[1] != self.out_size[0] or img.shape[0] != self.out_size[1]:
                img = cv2.resize(img, self.out_size, interpolation=cv2.INTER_AREA)
            yield Frame(idx, idx / self.info.fps, img)

    def _ffmpeg(self, stop: threading.Event) -> Iterator[Frame]:
        w, h = self.out_size
        # Input seeking lands on the wrong frame in MPEG-1 (GRID) files: seek fast to 5 s before,
        # then drop frames up to the exact start with `trim` FIRST in the chain, so that `select`
        # counts frames from the start and `scale` never works on a dropped frame.
        coarse = max(self.start - 5.0, 0.0)
        filters = []
        if self.start > coarse:
            filters.append(f"trim=start={self.start - coarse:.4f},setpts=PTS-STARTPTS")
        if self.every > 1:
            filters.append(f"select=not(mod(n\\,{self.every}))")
        if (w, h) != (self.info.width, self.info.height):
            filters.append(f"scale={w}:{h}:flags=bicubic")
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error"]
        if coarse > 0:
            cmd += ["-ss", f"{coarse:.3f}"]
        cmd += ["-i", str(self.info.path)]
        if self.duration is not None:
            cmd += ["-t", f"{self.duration:.3f}"]
        if filters:
            cmd += ["-vf", ",".join(filters)]
        cmd += ["-fps_mode", "passthrough", "-an", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=w * h * 3 * 2)
        err_lines: list[str] = []
        err_t = threading.Thread(target=lambda: err_lines.extend(proc.stderr.read().decode(errors="replace").splitlines()), daemon=True)
        err_t.start()
        nbytes = w * h * 3
        i = 0
        try:
            while not stop.is_set():
                buf = proc.stdout.read(nbytes)
                if len(buf) < nbytes:
                    break
                idx = self._frame_index(i)
                yield Frame(idx, idx / self.info.fps, np.frombuffer(buf, np.uint8).reshape(h, w, 3))
                i += 1
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            err_t.join(timeout=5)
        # ffmpeg writes several lines per damaged frame; count the lines that report damage.
        self.errors = sum(bool(_DAMAGE.search(line)) for line in err_lines)
        if i == 0 and not stop.is_set():
            raise VideoError(f"{self.info.path}: no frame could be decoded ({' '.join(err_lines[-2:])[-160:] or 'empty range'}); check the file and the time range")


def sample_frames(path: str | Path, n: int = 12, width: int | None = None) -> list[Frame]:
    """``n`` frames spread evenly over a source (for contact sheets)."""
    info = probe(path)
    every = max(1, info.frame_count // max(n, 1))
    return list(FrameReader(path, every=every, width=width))[:n]


# ---------------------------------------------------------------- writing


def _remove_old_style_temps(path: Path, min_age_s: float = 600.0) -> None:
    """Remove ``.STEM.XXXXXXXX.mp4`` files that writers before ``files.temp_path`` left when killed.

    Their name carries no process id, so only those untouched for ``min_age_s`` go (a live
    writer's file grows all the time).
    """
    import time

    pattern = re.compile(rf"^\.{re.escape(path.stem)}\.[a-z0-9_]{{8}}\.mp4$")
    with contextlib.suppress(OSError):
        for p in path.parent.iterdir():
            if pattern.match(p.name):
                with contextlib.suppress(OSError):
                    if time.time() - p.stat().st_mtime > min_age_s:
                        p.unlink()


class VideoWriter:
    """Encode RGB frames to H.264 ``.mp4`` beside the caller, muxing in a source's audio.

    ``audio_from`` (a media file) with ``audio_start``/``audio_duration`` (seconds)
    gives the soundtrack; ``metadata`` becomes container tags. Frames are
    queued to a writer thread; ``close()`` waits for ffmpeg and renames the
    temporary file onto ``path``. Used as a context manager, an exception inside
    the block deletes the temporary file and leaves ``path`` untouched.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        audio_from: str | Path | None = None,
        audio_start: float = 0.0,
        audio_duration: float | None = None,
        metadata: dict[str, str] | None = None,
        crf: int = 20,
        preset: str = "veryfast",
        queue_size: int = 16,
    ):
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"output {self.path} must end in .mp4")
        self.fps, self.crf, self.preset = float(fps), int(crf), preset
        self.audio_from = Path(audio_from) if audio_from else None
        self.audio_start, self.audio_duration = float(audio_start), audio_duration
        self.metadata = dict(metadata or {})
        self.frames_written = 0
        self._q: queue.Queue = queue.Queue(maxsize=queue_size)
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._tmp: Path | None = None
        self._size: tuple[int, int] | None = None

    def _start(self, w: int, h: int) -> None:
        _remove_old_style_temps(self.path)
        self._tmp, self._size = temp_path(self.path, ".mp4"), (w, h)  # also removes what a killed run left
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{self.fps:g}", "-i", "pipe:0"]
        has_audio = self.audio_from is not None and probe(self.audio_from).has_audio
        if has_audio:
            if self.audio_start > 0:
                cmd += ["-ss", f"{self.audio_start:.3f}"]
            if self.audio_duration is not None:
                cmd += ["-t", f"{self.audio_duration:.3f}"]
            cmd += ["-i", str(self.audio_from), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"]
        # yuv420p needs even sides; pad by at most one pixel rather than fail.
        cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf),
                "-pix_fmt", "yuv420p", "-movflags", "+faststart+use_metadata_tags"]
        for k, v in self.metadata.items():
            cmd += ["-metadata", f"{k}={v}"]
        cmd += [str(self._tmp)]
        # stderr goes to a file, not a pipe: a chatty ffmpeg can then never block on a full pipe
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self._stderr)
        self._thread = threading.Thread(target=self._pump, daemon=True, name="swaplab-writer")
        self._thread.start()

    def _pump(self) -> None:
        try:
            while True:
                frame = self._q.get()
                if frame is None:
                    break
                self._proc.stdin.write(frame.tobytes())
        except BaseException as e:  # ffmpeg died: keep the error for the caller
            self._error = e
            while self._q.get() is not None:  # drain so write() never blocks forever
                pass

    def write(self, frame: np.ndarray) -> None:
        """Queue one ``(H, W, 3)`` uint8 RGB frame; every frame must have the first one's size."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        if self._proc is None:
            self._start(w, h)
        elif (w, h) != self._size:
            raise ValueError(f"frame size {w}x{h} differs from the first frame's {self._size[0]}x{self._size[1]}")
        if self._error is not None:
            self._fail()
        self._q.put(np.ascontiguousarray(frame))
        self.frames_written += 1

    def close(self) -> Path:
        """Finish encoding and move the file into place; returns ``path``."""
        if self._proc is None:
            raise VideoError(f"no frame was written to {self.path}: nothing to save")
        self._q.put(None)
        self._thread.join()
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        rc = self._proc.wait()
        if self._error is not None or rc != 0:
            self._fail()
        make_readable(self._tmp)
        os.replace(self._tmp, self.path)
        self._proc = None
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the temporary file; ``path`` is left as it was."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            if self._thread is not None and self._thread.is_alive():
                # the pump now fails on the dead pipe and drains the queue until it meets None
                with contextlib.suppress(queue.Full):
                    self._q.put(None, timeout=5)
                self._thread.join(timeout=5)
            self._proc = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()

    def _fail(self) -> None:
        self.abort()
        err = ""
        with contextlib.suppress(Exception):
            self._stderr.seek(0)
            err = self._stderr.read().decode(errors="replace").strip()[-300:]
        raise VideoError(f"ffmpeg failed writing {self.path}: {err or self._error}")

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def side_by_side_layout(input_info: VideoInfo, swapped_info: VideoInfo) -> bool:
    """True when the swapped video is original | swapped side by side; raise if its shape fits neither layout.

    Judged by the aspect ratio, since 04_swap may also scale its output
    (``output_width``) and pads odd sides by a pixel.
    """
    aspect_in, aspect_sw = input_info.width / input_info.height, swapped_info.width / swapped_info.height
    for side_by_side, expected in ((True, 2 * aspect_in), (False, aspect_in)):
        if abs(aspect_sw / expected - 1) < 0.03:
            return side_by_side
    raise ValueError(
        f"{swapped_info.path} is {swapped_info.resolution} but {input_info.path} is {input_info.resolution}: "
        "the swapped video must have the input's shape, or twice its width when side by side; "
        "check that SWAPPED was made from INPUT"
    )


def swapped_picture(image: np.ndarray, side_by_side: bool, size: tuple[int, int]) -> np.ndarray:
    """The swapped picture of one output frame (its right half if side by side) at the input's (W, H)."""
    import cv2

    if side_by_side:
        image = image[:, image.shape[1] // 2:]
    if (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)
