"""04_swap over many inputs, a driver above the conversion: one output per file of a folder or glob.

``swap.SwapJob`` finds the files (``swap.input_files``); ``convert_many`` converts
each one with ``swap.convert`` under ONE progress bar over all their frames, and
never lets one bad file stop the rest: its error is recorded in its row and the
batch moves on. ``table`` renders the rows as a small text table. This module
imports ``swap``, never the other way round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from swaplab.core import paths, video
from swaplab.swap import pipeline as swap


def convert_many(inputs: list[Path], model, out_dir: str | Path, options: swap.SwapOptions, progress: bool = True,
                 project: str | None = None, source=None, on_preview: Callable | None = None,
                 preview_every: float = 5.0) -> list[dict]:
    """Convert each input to ``out_dir``; one row per input: input, output, frames, faces, fps, error."""
    totals = [_frames(p, options) for p in inputs]
    bar = _bar(progress, sum(totals))
    rows, done = [], 0
    try:
        for path, total in zip(inputs, totals):
            out = Path(out_dir) / paths.output_name(path, options.direction)
            row = {"input": str(path), "output": "", "frames": 0, "faces_swapped": 0, "fps": 0.0, "error": ""}
            try:
                report = swap.convert(path, model, out, options, progress=lambda n, _t, d=done: bar(d + n),
                                      project=project, source=source, on_preview=on_preview,
                                      preview_every=preview_every)
                row.update(output=str(out), frames=report.frames, faces_swapped=report.faces_swapped,
                           fps=round(report.fps, 1), faces_seen=report.faces_seen, cuts=len(report.cuts),
                           warnings=report.warnings, pasted=report.pasted)
            except (video.VideoError, ValueError, OSError) as e:  # a bad file: say why, go on
                row["error"] = str(e).splitlines()[0]
            rows.append(row)
            done += max(total, row["frames"])
            bar(done)
    finally:
        bar(None)
    return rows


def _frames(path: Path, options: swap.SwapOptions) -> int:
    """Frames ``path`` will give (0 when it cannot be read: its error comes when it is converted)."""
    try:
        info = video.probe(path)
    except video.VideoError:
        return 0
    if info.codec == "image":
        return 1
    seconds = max(info.duration - options.start, 0.0) if options.duration is None else options.duration
    return int(round(seconds * info.fps))


def _bar(progress: bool, total: int) -> Callable[[int | None], None]:
    """update(frames done so far), update(None) closes; a tqdm bar or nothing."""
    if not progress:
        return lambda done: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="frame", desc="swap batch")

    def update(done):
        if done is None:
            bar.close()
        else:
            bar.update(max(0, min(done, total) - bar.n))

    return update


def table(rows: list[dict]) -> str:
    """A plain-text summary: one line per input, errors spelled out."""
    lines = [f"{'input':<40} {'frames':>6} {'faces':>6} {'fps':>6}  result"]
    for r in rows:
        result = f"ERROR: {r['error']}" if r["error"] else Path(r["output"]).name
        lines.append(f"{Path(r['input']).name[:40]:<40} {r['frames']:>6} {r['faces_swapped']:>6} {r['fps']:>6}  {result}")
    ok = sum(not r["error"] for r in rows)
    lines.append(f"{ok} of {len(rows)} converted, {len(rows) - ok} skipped")
    return "\n".join(lines)
