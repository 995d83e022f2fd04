"""Stopping a training run cleanly: Ctrl-C (Jupyter's "Interrupt kernel") and SIGTERM while ``train.train`` runs.

``train.train`` installs ``stop_signals`` for its whole run, so SIGTERM (a preempted cloud machine, a
headless driver stopping) takes Ctrl-C's path: the stage whose ``fit`` was running (``RUNNING``, set by
``train.hooks.RunCallback``) is saved at the step it reached (``save_running``, with further signals held off
until the checkpoint is whole), then ``Interrupted`` is raised: one line saying where the run stands and
how to go on, which Jupyter shows alone and which still fails the cell, so a headless run exits non-zero.

As a careful Unix program: from the first signal on, a second Ctrl-C (or SIGTERM) while the run unwinds or saves
does not cut the save: it says so and waits for it; a third aborts it, with a warning that the save is unfinished
(the run keeps its last whole save: ``runs.save`` writes one unit). After SIGTERM a process ends by SIGTERM itself,
as the sender asked (``end_by_signal``: the default handler put back, the signal raised again: -15 in ``Popen``,
exit status 143 in a shell): a script that leaves ``Interrupted`` uncaught prints its line first (``excepthook``),
and so does swaplab.train.worker, after its own line. Ctrl-C stays an exception: exit status 1 (a worker's 130).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import sys
import threading

from swaplab.core import files


class Interrupted(BaseException):
    """Training stopped by Ctrl-C or SIGTERM, after the stage that was training saved the step it reached.

    A BaseException, as KeyboardInterrupt is, so no ``except Exception`` trains on past it. Its message is one
    line: where the run stands and how to go on. ``where`` is the middle of that line (the step, the folder
    saved) for drivers with their own advice (train_worker), ``signum`` the signal (SIGINT for Ctrl-C). In
    Jupyter the cell shows that line alone (``_render_traceback_``: IPython's hook for exceptions that draw
    themselves) and still fails, so "Run all" stops there and a headless run (papermill) exits non-zero.
    """

    def __init__(self, message: str, signum: int, where: str):
        super().__init__(message)
        self.signum, self.where = signum, where

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


RUNNING: contextvars.ContextVar = contextvars.ContextVar("swaplab_train_running", default=None)  # the stage in ``fit``


class _Stops:
    """The signals received since the first stopped ``train``: the first raises, the second waits, the third aborts."""

    def __init__(self):
        self.count = 0

    def handler(self, signum, frame):
        self.count += 1
        if self.count == 1:  # the first: stop training, like Ctrl-C
            if signum == signal.SIGTERM:
                raise files.Terminated(f"stopped by signal {signum} (SIGTERM)")
            raise KeyboardInterrupt
        if self.count == 2:
            print("stopping: saving the step reached first, a moment (press Ctrl-C again to abort the save)",
                  file=sys.stderr, flush=True)
            return
        print("stopping: the save was aborted and is unfinished: the run keeps its last whole save", file=sys.stderr, flush=True)
        raise KeyboardInterrupt


@contextlib.contextmanager
def stop_signals():
    """While ``train`` runs, SIGTERM raises ``files.Terminated`` in the main thread, so it takes Ctrl-C's path
    (KeyboardInterrupt): save, one line, stop; a second signal waits for the save and says so, a third aborts it
    (``_Stops``). The handlers found are put back afterwards; SIGTERM set to be ignored stays ignored. A handler
    TensorFlow installs from C++ (MultiWorkerMirroredStrategy's preemption notifier, which swallows SIGTERM) is
    replaced, and the default comes back after. Python runs signal handlers in the main thread only: called from
    another thread, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = _Stops()
    kinds = [signal.SIGINT] + ([signal.SIGTERM] if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN else [])
    previous = {s: signal.signal(s, stops.handler) for s in kinds}
    if sys.excepthook is not excepthook:
        sys.excepthook = excepthook
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


def excepthook(kind, value, tb, _default=sys.excepthook):
    """A script's uncaught ``Interrupted``: its one line; after SIGTERM the process then ends by SIGTERM (143)."""
    if not isinstance(value, Interrupted):
        return _default(kind, value, tb)
    print(f"{type(value).__module__}.{type(value).__name__}: {value}", file=sys.stderr, flush=True)
    if value.signum == signal.SIGTERM:
        end_by_signal(signal.SIGTERM)
    sys.stdout.flush()


def end_by_signal(signum: int) -> None:
    """End this process by ``signum`` (its default action), once what it printed is out: stdout and stderr flushed,
    and stderr's filter (``swaplab.core.quiet``, a thread of this process) given the last lines to pass on."""
    from swaplab.core import quiet

    sys.stdout.flush()
    sys.stderr.flush()
    if quiet._installed:
        quiet.drain()  # what its atexit hook does: a death by signal runs no atexit hook
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    sys.exit(128 + signum)  # not reached: a signal whose default action ends the process ends it here


def save_running() -> None:
    """Save the stage whose ``fit`` was stopped, if one was: its weights are those of its last whole step (Keras
    runs a step as one graph call, which a signal cannot cut: Python handles it between steps)."""
    running = RUNNING.get()
    if running is not None:
        running.stop()
