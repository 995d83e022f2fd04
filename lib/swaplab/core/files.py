"""Atomic writes, the SIGTERM that must not skip their cleanup, and work that runs ahead of its consumer.

A file that matters is written under a temporary name in the same folder and
renamed when complete, so an interrupted run never leaves a half-written
checkpoint, index or video where a finished one is expected. The temporary name
(``.NAME.partPID.XXXXXXXX.ext``) carries the writer's process id: a run killed
outright (kill -9, a crash) cannot delete its own, so the next write of the same
NAME removes those whose process is gone (``temp_path``), and a stage that
writes a folder of outputs can sweep the whole folder (``remove_stale_temps_in``).
An exception or Ctrl-C deletes the temporary file on its way out; SIGTERM ends a
process without any way out unless ``sigterm_unwinds`` turns it into one.
``run_ahead`` moves a producer (decoding, landmark detection) into a thread so
it overlaps the caller's work."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success, delete it on error.

    The temporary name is hidden (``.name.partPID.XXXX.ext``, see ``temp_path``) and keeps the
    extension, since tools such as ffmpeg pick the container from it; ``suffix`` overrides it.
    """
    path = Path(path)
    tmp_path = temp_path(path, path.suffix if suffix is None else suffix)
    try:
        yield tmp_path
        make_readable(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def temp_path(path: str | Path, suffix: str) -> Path:
    """Create an empty hidden file beside ``path`` for writing it (``.NAME.partPID.XXXXXXXX<suffix>``).

    First removes the temporary files of the same NAME that a process no longer
    running left behind (killed mid-write): they can be as large as the output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.part{os.getpid()}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temporary files of ``path`` (see ``temp_path``) whose writing process is gone; returns them."""
    path = Path(path)
    return _remove_dead(path.parent, re.compile(rf"^\.{re.escape(path.name)}\.part(\d+)\.[a-z0-9_]{{8}}"))


def remove_stale_temps_in(folder: str | Path) -> list[Path]:
    """Delete every temporary file in ``folder`` (of any NAME, see ``temp_path``) whose writing process is gone;
    returns them, sorted. A live writer's file stays, whoever's it is."""
    return sorted(_remove_dead(Path(folder), re.compile(r"^\..+\.part(\d+)\.[a-z0-9_]{8}")))


def _remove_dead(folder: Path, pattern: re.Pattern) -> list[Path]:
    """Delete the files in ``folder`` whose name matches ``pattern`` (group 1: a process id) and whose process is gone."""
    removed = []
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            m = pattern.match(p.name)
            if m and not _alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class Terminated(BaseException):
    """SIGTERM arrived inside ``sigterm_unwinds``. A BaseException, as KeyboardInterrupt is, so that no
    ``except Exception`` stops it: only ``finally`` blocks and ``with`` exits run on its way out."""


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` in the main thread instead of ending the process on the spot.

    So a SIGTERM (``kill PID``, a job scheduler, a closing notebook server) unwinds like Ctrl-C: temporary files
    are deleted and child processes stopped. Once the block has unwound, the signal is sent again under the
    handler that was there before, so the process still ends as the sender asked (status -15 by default). A
    second SIGTERM during the clean-up does not interrupt it. Python runs signal handlers in the main thread only:
    elsewhere, nested in another ``sigterm_unwinds``, or where SIGTERM is ignored, this changes nothing.
    """
    previous = signal.getsignal(signal.SIGTERM)
    if (threading.current_thread() is not threading.main_thread() or previous in (signal.SIG_IGN, None)
            or getattr(previous, "unwinds", False)):
        yield
        return
    received: list[int] = []

    def handler(signum, frame):
        received.append(signum)
        if len(received) == 1:
            raise Terminated(f"stopped by signal {signum} (SIGTERM)")

    handler.unwinds = True  # marks a nested sigterm_unwinds
    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if received:
            sys.stdout.flush()  # what was printed goes out before the default handler ends the process
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGTERM)


def make_readable(path: str | Path) -> None:
    """Give a finished file the usual permissions (mkstemp creates it 0600, readable by its owner only)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def write_json(path: str | Path, obj) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")
    return Path(path)


def read_json(path: str | Path, default=None):
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text())


def _jsonable(x):
    """numpy scalars and arrays, Paths: the things our reports hold."""
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"cannot write {type(x).__name__} to JSON")


def run_ahead(produce: Callable[[threading.Event], Iterable], size: int, name: str) -> Iterator:
    """Iterate over ``produce(stop)`` run in a thread, at most ``size`` items ahead of the consumer.

    An exception in the producer is raised in the consumer, in order. When the
    consumer stops early (break, exception, ``close()``), ``stop`` is set, the
    producer is closed in its own thread (its ``finally`` blocks run there) and
    the thread is joined.
    """
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():  # a timed put, so a consumer that left never blocks the producer for good
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        items = iter(produce(stop))
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as e:  # handed to the consumer, raised there
            put(e)
        finally:
            if hasattr(items, "close"):
                items.close()

    thread = threading.Thread(target=work, daemon=True, name=name)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)
