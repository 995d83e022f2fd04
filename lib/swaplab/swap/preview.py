"""The preview: one frame through the very code a conversion runs (04_swap's preview, ``widgets.scrubber``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from swaplab.core import video
from swaplab.model import runs
from swaplab.swap.convert import _reference
from swaplab.swap.frames import FramePipeline
from swaplab.swap.options import SwapOptions


def preview_frame(
    input_path: str | Path,
    model,
    frame_index: int,
    options: SwapOptions | None = None,
    cache: dict | None = None,
    source=None,
) -> tuple[np.ndarray, np.ndarray]:
    """(original, swapped) RGB uint8 frames for frame ``frame_index`` of ``input_path``, as ``convert`` would make it.

    Runs ``FramePipeline`` on one frame (landmarks in image mode: no smoothing, no
    tracks; "identity" embeds each face of the frame). ``source`` as in ``convert``.
    ``cache``: a dict kept between calls; the decoded frame, its faces and the model's
    output are reused, so moving a mask or colour control re-blends in milliseconds.
    ``options.side_by_side`` is ignored (the caller shows both).
    """
    o = dataclasses.replace((options or SwapOptions()).validate(), side_by_side=False)
    cache = {} if cache is None else cache
    if cache.get("model_of") is not model:  # a run folder is loaded once, not for every frame the scrubber shows
        cache.update(model=runs.load_cascade(model), model_of=model)
    model = cache["model"]
    built = (id(model), o.target, o.mask, o.max_faces, o.detail, id(source))  # what the pipeline itself depends on
    pipe = cache.get("pipeline")
    if pipe is None or cache.get("built") != built:
        if pipe is not None:
            pipe.close()
        pipe = cache["pipeline"] = FramePipeline(model, o, mode="image", reference=_reference(o, source))
        cache["built"] = built
        cache.pop("key", None)  # another model, target or mask: the cached faces are stale
    pipe.options = o
    key = (str(input_path), int(frame_index), o.direction, o.output_width, o.detect_width)
    if cache.get("key") != key:
        info = video.probe(input_path)
        if not 0 <= frame_index < max(info.frame_count, 1):
            raise ValueError(f"frame {frame_index} is outside {input_path} (0..{info.frame_count - 1})")
        reader = video.FrameReader(input_path, start=frame_index / info.fps, width=o.output_width)
        frames = iter(reader)
        frame = next(frames).image
        frames.close()  # stops the decoder now, not at garbage collection
        jobs = pipe.locate(frame, 0.0)
        swapped = list(pipe.swap_faces(jobs)) if jobs else []
        cache.update(key=key, frame=frame, jobs=jobs, swapped=swapped)
    frame = cache["frame"]
    return frame, pipe.compose(frame, cache["jobs"], cache["swapped"])
