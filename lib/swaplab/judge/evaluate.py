"""Swap metrics: how much a swapped video looks like the target, and how much it still moves like the input.

The 05 stage in modules, one concern each; this one measures a swap frame by frame (``evaluate_swap``) and
names the rest, so 05_evaluate reads ``evaluate.<name>`` for all of it:

- ``config``: ``EvalConfig`` (05_evaluate's parameters, checked in one call, every file found before the slow
  work) and ``locate_swap`` (which swapped video, from 04_swap's report or its default path). Its leak guard
  (``provenance.check_clip``) refuses a self-swap on a clip the run trained on, by SHA-256, unless ALLOW_SEEN.
- ``galleries``: each person's identity centroid and spread for the N-way vote.
- ``frames``: the per-frame measures (``FrameMeasures``), ``motion`` (mouth sync, gaze) and ``lookup`` (the
  nearest exemplar, its distance and the lookup baseline).
- ``table``: the summary, ``TARGETS``, ``targets_met``, ``summary_table``, ``write_metrics``.
- ``reconstruction``: A->A and B->B on held-back faces (SSIM, PSNR).

What is measured (per frame, inside the INPUT face's regions, where the swap is pasted):

- faces pasted: the share of frames with a face that got a face pasted (04_swap's report where it records it,
  else derived from the pixels, ``frames.paste_change``). Under 95 % every target is not met.
- band detail (the headline, ``metrics.band_detail``): per band (fine: DoG of 0.5 and 1 px; mid: 1 and 2 px)
  the correlation of the swapped inner face's detail with the input's; a gain cannot raise it, grain and
  detail that is not the input's lower it; reported as the blur of the input it matches, beside what
  perfect 64 px and 128 px models score on the same frames. A full reference for a self-swap (``a2a``/``b2b``);
  for a swap to another person a lower bound.
- the lookup baseline (self-swaps): the nearest exemplar pasted as it is, no model, scored the same way,
  and both split in thirds (near / middle / far) by each frame's distance to its nearest exemplar.
- the Laplacian detail ratio (swapped / input inner face, ``metrics.inner_face_detail``): a second opinion,
  fooled by a gain and by another face's contrast.
- face SSIM over the face box at the frame's resolution.
- identity: dlib descriptors of sampled swapped faces against N identities' centroids (retrieval, chance
  1/N), and the distance to the target beside the spread of the target's own faces.
- pose error (|yaw|, |pitch|, |roll| in degrees) and expression error (blendshapes), input vs swapped.
- mouth sync (the inner-lip gap, correlated over frames) and gaze (iris in the eye's frame, per eye and axis).
- stability: landmark jitter and the grey-level change inside the face hull from frame to frame, swapped /
  input; and the share of the input's face frames in which the swap still has a face.

A metric that cannot be measured is ``None`` in the summary with its reason in ``result["reasons"]``;
nothing raises for it. Per-frame lists hold ``None`` where a frame has no value, so a result is valid JSON
as it is (``write_metrics``). The figures of a result are drawn by ``swaplab.judge.figures``.
"""

from __future__ import annotations

import time
from pathlib import Path

from swaplab.core import video
from swaplab.judge.config import IDENTITY_FRAMES, EvalConfig, locate_swap
from swaplab.judge.frames import CEILINGS, FrameMeasures
from swaplab.judge.galleries import GALLERY_MAX, GALLERY_MIN, gallery, gallery_centroid, other_identities
from swaplab.judge.lookup import Exemplars
from swaplab.judge.reconstruction import aligned_video_faces, held_back_faces, held_back_reconstruction, reconstruction_metrics
from swaplab.judge.table import TARGETS, summary_table, targets_met, write_metrics

__all__ = ["CEILINGS", "GALLERY_MAX", "GALLERY_MIN", "IDENTITY_FRAMES", "INPUT_ID_EVERY", "TARGETS", "EvalConfig",
           "Exemplars", "aligned_video_faces", "evaluate_swap", "gallery", "gallery_centroid", "held_back_faces",
           "held_back_reconstruction", "locate_swap", "other_identities", "reconstruction_metrics", "summary_table",
           "targets_met", "write_metrics"]

INPUT_ID_EVERY = 4  # of the identity frames, embed the input in one in 4: it only checks that the galleries differ


def evaluate_swap(
    input_video: str | Path,
    swapped_video: str | Path,
    faces_dir_source: str | Path,
    faces_dir_target: str | Path,
    start: float = 0.0,
    duration: float | None = None,
    every: int = 1,
    identity_frames: int = IDENTITY_FRAMES,
    embedder=None,
    progress: bool = True,
    others: dict | None = None,
    exemplars: Exemplars | None = None,
    report: dict | None = None,
) -> dict:
    """Measure a swap frame by frame; returns ``{"summary", "per_frame", "reasons", ...}`` (JSON-ready).

    ``start``/``duration`` (seconds): the INPUT range 04_swap converted (the swapped video starts at its first
    frame). ``every``: score one frame in ``every``; identity on at most ``identity_frames`` of them, spread evenly.
    ``faces_dir_source``/``faces_dir_target``: face sets (or crop arrays, ``gallery_centroid``) of the person in the
    input and of the person swapped in (the same for a self-swap). ``others``: {name: face set or crops} of more
    identities for the N-way vote. ``exemplars``: the target's ``lookup.Exemplars`` (each frame's distance to the
    nearest; for a self-swap, the lookup baseline). ``report``: 04_swap's report of this swap (its pasted share is
    used where it records one). ``embedder``: a ``swaplab.face.identity.Embedder`` to reuse (made if None).
    """
    from swaplab.face import identity
    from swaplab.judge import table

    t0 = time.time()
    input_info, swapped_info = video.probe(input_video), video.probe(swapped_video)
    side_by_side = video.side_by_side_layout(input_info, swapped_info)
    embedder = embedder or identity.Embedder()
    galleries = _galleries(faces_dir_source, faces_dir_target, others, embedder)
    source = "source" if "source" in galleries else "target"  # a self-swap: the input's person is the target
    frames = FrameMeasures(galleries, "target", source, embedder, exemplars, lookup=source == "target")
    warnings = _measure_frames(frames, input_video, swapped_video, input_info, side_by_side, start, duration, every,
                               identity_frames, progress)
    pf = frames.finish()
    if not pf["index"]:
        raise video.VideoError(f"no frame pairs could be read from {input_video} and {swapped_video}: check the time range")
    summary, reasons = table.summarise(pf, frames.key_errors, galleries, report)
    return {
        "input": str(input_video),
        "swapped": str(swapped_video),
        "side_by_side": side_by_side,
        "start": start,
        "duration": duration,
        "every": every,
        "gallery_faces": {name: g["faces"] for name, g in galleries.items()},
        "gallery_spread": {name: g["spread"] for name, g in galleries.items()},
        "exemplars": None if exemplars is None else exemplars.origin,
        "summary": summary,
        "reasons": reasons,
        "warnings": warnings,
        "per_frame": pf,
        "expression_error_per_key": frames.key_errors,
        "seconds": round(time.time() - t0, 2),
    }


def _galleries(faces_source, faces_target, others: dict | None, embedder) -> dict[str, dict]:
    """{"target", "source" (left out for a self-swap), "other:<name>"...: ``gallery``}: the N identities of the vote."""
    galleries = {"target": gallery(faces_target, embedder)}
    if faces_source is not None and str(faces_source) != str(faces_target):
        galleries["source"] = gallery(faces_source, embedder)
    for name, faces in (others or {}).items():
        galleries[f"other:{name}"] = gallery(faces, embedder)
    return galleries


def _measure_frames(frames: FrameMeasures, input_video, swapped_video, input_info, side_by_side: bool, start: float,
                    duration: float | None, every: int, identity_frames: int, progress: bool) -> list[str]:
    """Feed ``frames`` every pair of (input, swapped) frames of the range; returns the warnings of the pairing."""
    from tqdm.auto import tqdm

    from swaplab.face.landmarks import Landmarker

    size = (input_info.width, input_info.height)
    reader_in = video.FrameReader(input_video, start=start, duration=duration, every=every)
    reader_sw = video.FrameReader(swapped_video, start=0.0, duration=duration, every=every)
    total = max(1, int((duration or input_info.duration - start) * input_info.fps / every + 0.5))
    id_stride = max(1, -(-total // max(1, identity_frames)))  # ceil: at most ~identity_frames embeddings
    # Two trackers: VIDEO mode follows one clip each, with increasing timestamps.
    with Landmarker("video", num_faces=1) as lm_in, Landmarker("video", num_faces=1) as lm_sw:
        for i, (f_in, f_sw) in enumerate(tqdm(zip(reader_in, reader_sw), total=total, desc="evaluate", disable=not progress)):
            img_sw = video.swapped_picture(f_sw.image, side_by_side, size)  # (H, W, 3) uint8, the input's size
            ts = int(round(f_in.time * 1000))
            face_in = next(iter(lm_in.detect(f_in.image, ts)), None)
            face_sw = next(iter(lm_sw.detect(img_sw, ts)), None)
            frames.add(f_in, f_in.image, img_sw, face_in, face_sw, i % id_stride == 0, i % (id_stride * INPUT_ID_EVERY) == 0)
    if reader_in.frames_read == reader_sw.frames_read:
        return []
    return [f"the input range has {reader_in.frames_read} frames, the swapped video {reader_sw.frames_read}: "
            f"scored the first {len(frames.pf['index'])} of each; check START/DURATION match those given to 04_swap"]
