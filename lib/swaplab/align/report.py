"""The data report: can these two face sets give a good swap of this video? Counts, coverage, warnings, plots.

The seed's two data lessons are the rules here. Count: the target person B
needs hundreds of faces (300 is the floor, 1000+ is good). Coverage: B's faces
must cover the poses, expressions and light of the video to be swapped (a
model that never saw B in profile cannot draw B in profile). The video to be
swapped is A's face set, or a ``target`` (a video file, or the face set of
the actual video) when given.

``coverage(a, b, target)`` returns plain numbers (shares of faces per pose,
expression and light band) plus ``warnings`` in plain words; the ``plot_*``
functions draw figures (``matplotlib.figure.Figure``, no pyplot state, so a
notebook shows each once and a headless run only saves them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from swaplab.align import extract
from swaplab.face.faceset import FaceSet

FLOOR, GOOD = 300, 1000  # faces of a person: below FLOOR the swap is unusable, from GOOD on it is good
PROFILE_YAW = 25.0  # degrees: |yaw| beyond this is a profile-ish view
STEEP_PITCH = 20.0  # degrees: |pitch| beyond this is looking clearly up or down
EXPRESSION_MIN = 0.4  # blendshape score above which an expression counts as shown
MIN_SHARE = 0.05  # a pose or expression in < 5 % of the video is not worth a warning
GAP = 5.0  # B "lacks" a band when its share is below the video's share / GAP
LIGHT_SLACK = 20.0  # of 255: how far the video's median brightness may sit outside B's 5-95 % range

# Bands of pose a video may need: name -> (description, test on (yaw, pitch) arrays in degrees).
POSES = {
    "turned right": (f"turned to the image's right (yaw > {PROFILE_YAW:.0f}°)", lambda y, p: y > PROFILE_YAW),
    "turned left": (f"turned to the image's left (yaw < -{PROFILE_YAW:.0f}°)", lambda y, p: y < -PROFILE_YAW),
    "looking up": (f"looking up (pitch > {STEEP_PITCH:.0f}°)", lambda y, p: p > STEEP_PITCH),
    "looking down": (f"looking down (pitch < -{STEEP_PITCH:.0f}°)", lambda y, p: p < -STEEP_PITCH),
}
# Expressions from blendshapes: name -> (blendshapes, combined by max).
EXPRESSIONS = {
    "open mouth": ("jawOpen",),
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "blink": ("eyeBlinkLeft", "eyeBlinkRight"),
}


# ---------------------------------------------------------------- numbers


def video_pose_rows(path: str | Path, sample_fps: float = 5.0, width: int | None = 640) -> list[dict]:
    """Rows (yaw, pitch, blendshapes, brightness) of the largest face in a video's frames, sampled at ``sample_fps``."""
    from swaplab.core import video
    from swaplab.face import align, landmarks

    info = video.probe(path)
    every = max(1, round(info.fps / sample_fps))
    rows = []
    with landmarks.Landmarker("video") as lm:
        for frame in video.FrameReader(path, every=every, width=width):
            faces = lm.detect(frame.image, int(frame.time * 1000))
            if faces:
                f = faces[0]
                crop, m = align.crop_face(frame.image, f.landmarks, 128)
                bs = dict(zip(landmarks.BLENDSHAPE_NAMES, f.blendshapes.tolist()))
                rows.append({"yaw": f.yaw, "pitch": f.pitch, "blendshapes": bs, "brightness": extract.measure(crop)[1],
                             # crop side in the video's own pixels (the frames were read at most ``width`` wide)
                             "crop_px": 128 / float(np.hypot(*m[0, :2])) * info.width / frame.image.shape[1]})
    return rows


def _rows(x, everyone: bool = False) -> tuple[str, list[dict]]:
    """(name, rows) of a FaceSet (kept faces; every face of the person when ``everyone``), a video path, or rows."""
    if isinstance(x, FaceSet):
        rows = [r for r in x.rows if r["why"] not in ("other identity", "small")] if everyone else x.kept()
        return x.person, [{**r, "crop_px": x.face_size / float(np.hypot(*np.asarray(r["matrix"])[0, :2]))} for r in rows]
    if isinstance(x, (str, Path)):
        return Path(x).stem, video_pose_rows(x)
    return "target", list(x)


def stats(rows: list[dict]) -> dict:
    """Shares of faces per pose band and expression, and brightness percentiles, of index rows."""
    yaw = np.array([r["yaw"] for r in rows], np.float32)
    pitch = np.array([r["pitch"] for r in rows], np.float32)
    light = np.array([r["brightness"] for r in rows], np.float32)
    n = max(len(rows), 1)
    expr = {name: sum(max(r["blendshapes"].get(k, 0.0) for k in keys) > EXPRESSION_MIN for r in rows) / n
            for name, keys in EXPRESSIONS.items()}

    def pct(v):
        return np.percentile(v, [5, 50, 95]).round(1).tolist() if len(v) else [None] * 3

    crop = np.array([r["crop_px"] for r in rows if r.get("crop_px")], np.float32)
    return {
        "faces": len(rows),
        "crop_px_median": float(np.median(crop)) if len(crop) else None,
        "poses": {name: float(test(yaw, pitch).sum()) / n for name, (_, test) in POSES.items()},
        "expressions": expr,
        "yaw_p5_50_95": pct(yaw), "pitch_p5_50_95": pct(pitch), "brightness_p5_50_95": pct(light),
    }


def coverage(faceset_a, faceset_b, target=None) -> dict:
    """Counts and coverage of A's and B's face sets against the video to be swapped (``target``, else A's faces).

    ``target``: None, a video path (its faces are found at 5 fps), or a FaceSet
    of that video (all of the person's faces count, kept or not: each frame
    will be swapped). Returns {"a", "b", "target"} stats, names, and "warnings".
    """
    name_a, rows_a = _rows(faceset_a)
    name_b, rows_b = _rows(faceset_b)
    cov = {"names": {"a": name_a, "b": name_b}, "a": stats(rows_a), "b": stats(rows_b), "target": None,
           "problems": {k: _problems(x) for k, x in (("a", faceset_a), ("b", faceset_b)) if isinstance(x, FaceSet)}}
    if target is not None:
        cov["names"]["target"], rows_t = _rows(target, everyone=True)
        cov["target"] = stats(rows_t)
    cov["warnings"] = coverage_warnings(cov)
    return cov


def _problems(fs: FaceSet) -> list[str]:
    s = fs.summary
    out = [f"source {n} of {fs.person}: no face found in its {s['sources'][n].get('frames_read', 0)} frames; "
           f"check it shows {fs.person}'s face, or remove it" for n in s.get("no_face_sources", [])]
    out += [f"source {n} of {fs.person} could not be read ({e}); replace it" for n, e in s.get("errors", {}).items()]
    if s.get("decode_errors"):
        out.append(f"{fs.person}'s sources had {s['decode_errors']} decode errors (those frames were skipped)")
    return out


def coverage_warnings(cov: dict) -> list[str]:
    """Plain-word warnings from a ``coverage`` dict: too few faces, and poses/expressions/light B lacks."""
    names = cov["names"]
    out = [p for k in ("a", "b") for p in cov["problems"].get(k, [])]
    for k in ("b", "a"):
        n = cov[k]["faces"]
        if n < FLOOR:
            out.append(f"{names[k]} has {n} faces; {FLOOR} is the floor for a usable swap, {GOOD}+ is good: "
                       f"collect more footage of {names[k]}")
    ref = "target" if cov["target"] else "a"
    what = f"the video to swap ({names[ref]})" if ref == "target" else f"{names['a']}'s faces"
    checks = [("b", cov["b"])] + ([("a", cov["a"])] if ref == "target" else [])
    for k, s in checks:
        person = names[k]
        for band, (words, _) in POSES.items():
            want, have = cov[ref]["poses"][band], s["poses"][band]
            if want >= MIN_SHARE and have < want / GAP:
                out.append(f"{person} has {_few(have)} faces {words}, but {what} has {want:.0%} such frames: "
                           f"swaps in that pose will fail; collect footage of {person} {band}")
        for expr, keys in EXPRESSIONS.items():
            want, have = cov[ref]["expressions"][expr], s["expressions"][expr]
            if want >= MIN_SHARE and have < want / GAP:
                out.append(f"{person} has {_few(have)} faces with a {expr} ({'/'.join(keys)} > {EXPRESSION_MIN}), "
                           f"but {what} has {want:.0%}: the swap will blur or freeze it; "
                           f"collect footage of {person} with that expression")
        lo, _, hi = s["brightness_p5_50_95"]
        mid = cov[ref]["brightness_p5_50_95"][1]
        if None not in (lo, hi, mid) and not lo - LIGHT_SLACK <= mid <= hi + LIGHT_SLACK:
            tone = "darker" if mid < lo else "brighter"
            out.append(f"the median brightness of {what} ({mid:.0f} of 255) is {tone} than 95 % of {person}'s "
                       f"faces ({lo:.0f}-{hi:.0f}): colour matching will struggle; add footage of {person} in similar light")
    return out


STRETCH_MAX = 1.5  # a model's output stretched more than this to cover the face in the frame looks soft


def crop_px(fs: FaceSet) -> float | None:
    """Median side, in frame pixels, of the aligned crops of a face set's kept faces: how big the face is in its footage."""
    return stats(_rows(fs)[1])["crop_px_median"]


def resolution_warning(face_px: float | None, model_size: int, what: str) -> str | None:
    """A warning when a model's ``model_size`` px output must be stretched more than STRETCH_MAX x over faces
    whose aligned crop spans ``face_px`` frame pixels (the swap then looks soft, whatever the training)."""
    if not face_px or face_px <= STRETCH_MAX * model_size:
        return None
    return (f"the faces in {what} span ~{face_px:.0f} px, but the model draws {model_size} px: each swapped face is "
            f"stretched {face_px / model_size:.1f}x and will look soft; a larger model (MODEL='lite128', about twice the "
            "training time on a CPU, or 'hd128' on a GPU) keeps more of it, or downscale the video (04_swap's OUTPUT_WIDTH)")


def _few(share: float) -> str:
    return "no" if share == 0 else f"only {share:.1%}"


# ---------------------------------------------------------------- plots


def plot_coverage(faceset_a, faceset_b, target=None, path: str | Path | None = None):
    """2x2 figure: yaw and pitch histograms, expression shares, brightness, A vs B (vs target); saved to ``path``."""
    from matplotlib.figure import Figure

    sets = [_rows(faceset_a), _rows(faceset_b)] + ([_rows(target, everyone=True)] if target is not None else [])
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    hists = ((axes[0], "yaw", np.arange(-90, 91, 5), "°"), (axes[1], "pitch", np.arange(-60, 61, 5), "°"),
             (axes[3], "brightness", np.arange(0, 256, 8), " (L, 0-255)"))
    for ax, key, bins, unit in hists:
        for name, rows in sets:
            ax.hist([r[key] for r in rows], bins=bins, histtype="step", density=True, lw=1.5, label=f"{name} ({len(rows)})")
        ax.set(title=f"{key}{unit}", ylabel="share of faces (density)")
        ax.legend(fontsize=8)
    for edge in (-PROFILE_YAW, PROFILE_YAW):  # the profile bands the warnings count
        axes[0].axvline(edge, color="grey", ls=":", lw=1)
    width = 0.8 / len(sets)
    for i, (name, rows) in enumerate(sets):
        shares = stats(rows)["expressions"]
        axes[2].bar(np.arange(len(shares)) + i * width, list(shares.values()), width, label=name)
    axes[2].set_xticks(np.arange(len(EXPRESSIONS)) + width * (len(sets) - 1) / 2, list(EXPRESSIONS))
    axes[2].set(title=f"expressions (blendshape > {EXPRESSION_MIN})", ylabel="share of faces")
    axes[2].legend(fontsize=8)
    return _save(fig, path)


def plot_faces(fs: FaceSet, rows: list[dict], title: str, n: int = 40, cols: int = 10, path: str | Path | None = None,
               mask: str = ""):
    """A grid of up to ``n`` crops spread over ``rows``, each labelled with its source/frame and why it was dropped.

    ``mask``: "hull" or "hull-hair" draws the paste mask 04_swap would use on each crop
    (``masks.crop_overlay``: its edge in green, hair cut out of it in red); "" draws none.
    """
    from matplotlib.figure import Figure

    from swaplab.face import masks

    segmenter = masks.HairSegmenter() if mask == "hull-hair" else None

    pick = [rows[int(i)] for i in np.linspace(0, len(rows) - 1, min(n, len(rows)))] if rows else []
    nrows = max(1, -(-len(pick) // cols))
    fig = Figure(figsize=(cols * 1.3, nrows * 1.5 + 0.4), layout="constrained")
    fig.suptitle(f"{title} ({len(rows)} faces)" if rows else f"{title}: none")
    for i, ax in enumerate(fig.subplots(nrows, cols, squeeze=False).ravel()):
        ax.axis("off")
        if i < len(pick):
            r = pick[i]
            img = fs.image(r)
            ax.imshow(masks.crop_overlay(img, np.asarray(r["landmarks"]) * img.shape[0] / fs.face_size, mask, segmenter)
                      if mask else img)
            ax.set_title(f"{r['source'][-8:]}:{r['frame']}" + (f"\n{r['why']}" if r["why"] else ""), fontsize=7)
    return _save(fig, path)


def _save(fig, path: str | Path | None):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig
