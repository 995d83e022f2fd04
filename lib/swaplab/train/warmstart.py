"""What a warm start saved: the steps a run started from INIT_FROM took to reach its final loss, against the
steps its source run took from scratch (no extra run needed)."""

from __future__ import annotations


def steps_to_loss(history: list[dict], target: float) -> int | None:
    """First step at which the mean of loss_a and loss_b is <= ``target``; None if never."""
    for h in history:
        if (h["loss_a"] + h["loss_b"]) / 2 <= target:
            return int(h["step"])
    return None


def warm_start_savings(history: list[dict], source_history: list[dict]) -> dict:
    """Steps a warm-started run saved, measured against a from-scratch run's history.

    The target is the loss this run ended at; the from-scratch reference is the source
    run's own history (it started from random weights), so no extra run is needed.
    """
    if not history:
        return {}
    target = (history[-1]["loss_a"] + history[-1]["loss_b"]) / 2
    warm, scratch = steps_to_loss(history, target), steps_to_loss(source_history, target)
    return {"target_loss": target, "steps_warm": warm, "steps_from_scratch": scratch,
            "steps_saved": None if scratch is None else scratch - warm,
            "note": None if scratch is not None else "the source run never reached this loss: saved more than "
                                                     f"{source_history[-1]['step'] if source_history else 0} steps"}
