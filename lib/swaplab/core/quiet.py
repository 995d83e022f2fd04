"""Quiet by default: drop the C++ info/warning chatter of TensorFlow and MediaPipe, keep real errors.

Imported first by ``swaplab/__init__.py``, so it runs before TensorFlow or MediaPipe load.
Their C++ cores log through absl/glog straight to file descriptor 2. With TensorFlow 2.21
and MediaPipe 1.2.2 no environment variable silences the lines written before
``absl::InitializeLog()`` (measured: ``TF_CPP_MIN_LOG_LEVEL=3`` and ``GLOG_minloglevel=2`` both
leave them), so the levels are set for what honours them and, in addition, fd 2 is passed
through a filter thread that drops:

- absl/glog lines of level I and W (``I0000 00:00:1796013372.889022 7889 port.cc:153] ...``)
  absl's and glog's "Logging before ..." notices, and TensorFlow Lite's ``INFO:`` lines;
- Grappler's "remapper failed" / "... optimizer failed" E-lines: an optimisation pass giving
  up on one graph, after which TensorFlow runs the graph unoptimised (a known, harmless one);
- the "failed call to cuInit" E-line of a machine with no GPU (TensorFlow then uses the CPU,
  and the notebooks print which devices they found).

Every other line (Python tracebacks, other E and F lines, ffmpeg, tqdm bars) goes through
unchanged. ``SWAPLAB_VERBOSE=1`` turns the filter off. The filter is only installed on a
plain process's stderr or a Jupyter kernel's; under pytest's fd capture it is replaced
for each test and does nothing.
"""

from __future__ import annotations

import atexit
import os
import re
import threading

# absl / glog line: level letter, MMDD, time, thread id, file:line]
_CHATTER = re.compile(
    rb"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\]"
    rb"|E\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ meta_optimizer\.cc:\d+\] \S+ failed:"
    rb"|E\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ cuda_platform\.cc:\d+\] failed call to cuInit"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|WARNING: Logging before InitGoogle\(\) is written to STDERR"
    rb"|INFO: )"  # TensorFlow Lite's info lines (MediaPipe): "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
)
_installed: dict = {}


def set_levels() -> None:
    """Log levels for the libraries that read them (set only where the user has not chosen)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own C++ logging: errors and up
    os.environ.setdefault("GLOG_minloglevel", "2")  # glog builds of MediaPipe: errors and up
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def is_chatter(line: bytes) -> bool:
    """True for a C++ info/warning log line (or a known harmless error) that the filter drops."""
    return bool(_CHATTER.match(line.lstrip(b"\r")))


def filter_lines(data: bytes) -> tuple[bytes, bytes]:
    """(what to pass on, the unfinished rest) of ``data``; a line ends at \\n or \\r (tqdm redraws with \\r)."""
    out, start = [], 0
    for m in re.finditer(rb"[\r\n]", data):
        line = data[start:m.end()]
        start = m.end()
        if not is_chatter(line):
            out.append(line)
    return b"".join(out), data[start:]


def install() -> bool:
    """Filter file descriptor 2 through ``filter_lines``; returns whether the filter is on."""
    set_levels()
    if _installed or os.environ.get("SWAPLAB_VERBOSE", "") not in ("", "0"):
        return bool(_installed)
    try:
        original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:  # no usable fd 2 (some embedded interpreters): stay unfiltered
        return False
    thread = threading.Thread(target=_pump, args=(read_end, original), name="swaplab-stderr-filter", daemon=True)
    thread.start()
    _installed.update(original=original, thread=thread, pipe=os.fstat(2).st_ino)
    atexit.register(drain)
    return True


def _pump(read_end: int, original: int) -> None:
    rest = b""
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except OSError:
            chunk = b""
        if not chunk:  # every writer closed fd 2: pass on what is left and stop
            _write(original, rest)
            return
        passed, rest = filter_lines(rest + chunk)
        _write(original, passed)


def _write(fd: int, data: bytes) -> None:
    while data:
        try:
            data = data[os.write(fd, data):]
        except OSError:
            return


def original_stderr() -> int:
    """The file descriptor of the real stderr: the filter's way out when it is on, else 2. A child process
    given it writes past the filter, whose thread needs this process's GIL to pass anything on."""
    return _installed.get("original", 2)


def drain() -> None:
    """At exit: put the real stderr back and let the thread pass on the last lines (a traceback)."""
    original, thread = _installed["original"], _installed["thread"]
    try:
        if os.fstat(2).st_ino != _installed["pipe"]:  # someone (pytest's capture) has put its own fd 2 since
            return
        os.dup2(original, 2)  # closes the pipe's last write end held by this process
    except OSError:
        return
    thread.join(timeout=2.0)
