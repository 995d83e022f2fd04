"""Stopping a training run cleanly: Ctrl-C (Jupyter's "Interrupt kernel") and SIGTERM while ``train.train`` runs.

``train.train`` installs ``stop_signals`` for its whole run, so SIGTERM (a preempted cloud machine, a
headless driver stopping) takes Ctrl-C's path: the stage whose ``fit`` was running (``RUNNING``, set by
``train.hooks.RunCallback``) is saved at the step it reached (``save_running``, with further signals held off
until the checkpoint is whole), then ``Interrupted`` is raised: one line saying where the run stands and
how to go on, which Jupyter shows alone and which still fails the cell, so a headless run exits non-zero.
"""

from __future__ import annotations

import contextlib
import contextvars
import signal
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


@contextlib.contextmanager
def stop_signals():
    """While ``train`` runs, SIGTERM raises ``files.Terminated`` in the main thread, so it takes Ctrl-C's path
    (KeyboardInterrupt): save, one line, stop. The handler found is put back afterwards; one set to ignore
    SIGTERM is kept. A handler TensorFlow installs from C++ (MultiWorkerMirroredStrategy's preemption notifier,
    which swallows SIGTERM) is replaced, and the default comes back after. Python runs signal handlers in the
    main thread only: called from another thread, nothing changes."""
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or previous is signal.SIG_IGN:
        yield
        return

    received = []

    def terminated(signum, frame):
        received.append(signum)
        if len(received) == 1:  # once: a second SIGTERM must not cut the save the first one started
            raise files.Terminated(f"stopped by signal {signum} (SIGTERM)")

    signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextlib.contextmanager
def signals_held():
    """A second Ctrl-C or SIGTERM while the interrupted stage saves is let pass: the checkpoint gets whole (a second
    or two), and the run stops right after anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, lambda signum, frame: None) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


def save_running() -> None:
    """Save the stage whose ``fit`` was stopped, if one was: its weights are those of its last whole step (Keras
    runs a step as one graph call, which a signal cannot cut: Python handles it between steps)."""
    running = RUNNING.get()
    if running is not None:
        with signals_held():
            running.stop()
