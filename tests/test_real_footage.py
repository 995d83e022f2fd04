"""Real footage in 04_swap: the right person, scene cuts, hair over the face, photos and batches.

Real samples and real parts throughout: the two-person head-pose GIF with the
real landmarker and dlib identities, two GRID clips joined with ffmpeg, the
MediaPipe hair segmentation model. The model is "lite" with untrained weights:
what it draws is meaningless, where it draws is what these tests check.
"""

import subprocess

import numpy as np
import pytest

from swaplab import SYNTHETIC_TAG
from swaplab.core import assets, paths, photos, video
from swaplab.face import align, blend, masks
from swaplab.face.landmarks import Landmarker
from swaplab.swap import batch, targets
from swaplab.swap import pipeline as swap

TWO = "samples/headpose/head-pose-face-detection-female-and-male.gif"  # 480x270, 56 frames: a woman (left), a man (right)
WOMAN = "samples/headpose/head-pose-face-detection-female.gif"  # the same woman alone, another take
MAN = "samples/headpose/head-pose-face-detection-male.gif"


@pytest.fixture(scope="module")
def model():
    swap.configure_threads()
    from swaplab.model.models import build_swap_model

    return build_swap_model("lite")


def crops_of(path, n=8):
    """Aligned 160 px crops of the largest face in every 3rd frame of ``path`` (the person's face set)."""
    out = []
    with Landmarker("image", num_faces=1, blendshapes=False) as lm:
        for f in video.FrameReader(assets.fetch(path, progress=False), every=3):
            faces = lm.detect(f.image)
            if faces:
                out.append(align.crop_face(f.image, faces[0].landmarks, 160)[0])
    return np.stack(out[:n])


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def two_people(tmp_path_factory):
    """(the GIF, its frames through the same lossless encoder unswapped, each frame's (woman, man) boxes)."""
    gif = assets.fetch(TWO, progress=False)
    ref = tmp_path_factory.mktemp("two") / "ref.mp4"
    frames = [f.image for f in video.FrameReader(gif)]
    with video.VideoWriter(ref, video.probe(gif).fps, crf=0, preset="ultrafast") as w:
        for img in frames:
            w.write(img)
    boxes = []
    with Landmarker("image", num_faces=2, blendshapes=False) as lm:
        for img in frames[::5]:
            faces = sorted(lm.detect(img), key=lambda f: f.landmarks[:, 0].mean())  # left to right
            boxes.append([f.bbox for f in faces] if len(faces) == 2 else None)
    return gif, ref, boxes


def box_psnrs(out, ref, boxes):
    """(woman's, man's) PSNR of ``out`` against ``ref`` in their face boxes, over the sampled frames."""
    a = [f.image for f in video.FrameReader(out)][::5]
    b = [f.image for f in video.FrameReader(ref)][::5]
    res = [[], []]
    for x, y, bx in zip(a, b, boxes):
        if bx is None:
            continue
        for k, (x0, y0, x1, y1) in enumerate(bx):
            res[k].append(psnr(x[y0:y1, x0:x1], y[y0:y1, x0:x1]))
    return min(res[0]), min(res[1])


def test_identity_swaps_only_the_source_person_and_all_swaps_both(model, two_people, tmp_path):
    gif, ref, boxes = two_people
    woman = targets.source_identity(crops_of(WOMAN))
    opts = swap.SwapOptions(target="identity", label="", crf=0)
    report = swap.convert(gif, model, tmp_path / "woman.mp4", opts, progress=False, source=woman)
    p_woman, p_man = box_psnrs(tmp_path / "woman.mp4", ref, boxes)
    assert p_man >= 45 and p_woman < 35, (p_woman, p_man)  # the man untouched, the woman swapped
    assert report.faces_seen == {"source": 56, "other": 56} and report.faces_swapped == 56
    assert report.tracks == {"source": 1, "other": 1} and report.embedded == 2 * len(targets.EMBED_AT)

    man = targets.source_identity(crops_of(MAN))
    report = swap.convert(gif, model, tmp_path / "man.mp4", opts, progress=False, source=man)
    p_woman, p_man = box_psnrs(tmp_path / "man.mp4", ref, boxes)
    assert p_woman >= 45 and p_man < 35, (p_woman, p_man)

    report = swap.convert(gif, model, tmp_path / "all.mp4", swap.SwapOptions(target="all", label="", crf=0), progress=False)
    assert max(box_psnrs(tmp_path / "all.mp4", ref, boxes)) < 35 and report.faces_swapped == 112
    assert report.faces_seen == {"face": 112} and report.tracks == {"face": 2}


def test_largest_sticks_to_one_track_and_identity_needs_a_source(model, two_people, tmp_path):
    gif, _, _ = two_people
    report = swap.convert(gif, model, tmp_path / "l.mp4", swap.SwapOptions(target="largest", max_faces=2), progress=False)
    assert report.tracks == {"largest": 1, "other": 1} and report.faces_swapped_by_kind == {"largest": 56}
    report = swap.convert(gif, model, tmp_path / "l1.mp4", swap.SwapOptions(target="largest"), progress=False)
    assert report.tracks == {"largest": 1} and report.faces_swapped == 56  # by default MediaPipe tracks one face
    with pytest.raises(ValueError, match="TARGET='identity'.*face set"):
        swap.convert(gif, model, tmp_path / "x.mp4", swap.SwapOptions(target="identity"), progress=False)
    with pytest.raises(ValueError, match="TARGET"):
        swap.SwapOptions(target="biggest").validate()
    assert not (tmp_path / "x.mp4").exists()


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    """GRID s1 (75 frames) then GRID s2, joined by ffmpeg into one 150-frame clip: a cut at frame 75."""
    a, b = (assets.fetch(k, progress=False) for k in ("samples/grid/s1/bbaf2n.mpg", "samples/grid/s2/pwij3p.mpg"))
    out = tmp_path_factory.mktemp("cut") / "joined.mp4"
    subprocess.run([video.ffmpeg_exe(), "-v", "error", "-y", "-i", str(a), "-i", str(b), "-filter_complex",
                    "[0:v][0:a][1:v][1:a]concat=n=2:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]", "-c:v", "libx264",
                    "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)], check=True)
    return out, video.probe(a).frame_count


def test_a_cut_is_found_at_the_join_and_nothing_is_smoothed_across_it(model, joined):
    clip, join = joined
    pipe = swap.FramePipeline(model, swap.SwapOptions(start=2.0, duration=2.0, smoothing=1.0))  # on (off by default)
    jobs = {}
    try:
        for f in video.FrameReader(clip, start=2.0, duration=2.0):
            jobs[f.index] = pipe.locate(f.image, f.time, f.index)[0]
    finally:
        pipe.close()
    assert [abs(c["frame"] - join) <= 1 for c in pipe.cuts] == [True]
    cut = pipe.cuts[0]["frame"]
    before, after = jobs[cut - 1], jobs[cut]

    def frame_points(job):  # the smoothed landmarks, back in frame px
        return align.transform_points(job.landmarks, align.invert(job.matrix))

    assert not np.allclose(frame_points(before), before.raw, atol=1e-3)  # smoothing is on within a shot
    assert np.allclose(frame_points(after), after.raw, atol=1e-6)  # and starts over at the cut
    assert after.track != before.track  # a new track, a new identity decision


def test_no_cut_in_continuous_footage():
    from swaplab.swap.cuts import CutDetector

    for key in (TWO, MAN, "samples/grid/s1/lbaq6p.mpg"):
        detect = CutDetector()
        assert not any(detect(f.image) for f in video.FrameReader(assets.fetch(key, progress=False))), key


def test_hull_hair_keeps_the_input_where_hair_crosses_the_face(model):
    gif = assets.fetch(WOMAN, progress=False)
    frame = 12  # her hair falls across the hull on her right cheek
    cache, opts = {}, swap.SwapOptions(label="", mask="hull-hair")
    original, hair_kept = swap.preview_frame(gif, model, frame, opts, cache)
    job = cache["jobs"][0]
    s = job.hair.shape[0]
    hull = blend.face_mask(job.landmarks, s, 3, 3) > 0.5
    # frame pixels whose place in the crop is hair inside the hull
    ys, xs = np.mgrid[0:original.shape[0], 0:original.shape[1]]
    pts = align.transform_points(np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64), job.matrix).round().astype(int)
    inside = (pts >= 0).all(1) & (pts < s).all(1)
    px, (cx, cy) = np.flatnonzero(inside), pts[inside].T
    over = px[(job.hair[cy, cx] > 0.5) & hull[cy, cx]]
    assert len(over) > 100  # the premise: hair over the face, in frame pixels
    flat_in, flat_out = original.reshape(-1, 3), hair_kept.reshape(-1, 3)
    assert (flat_out[over] == flat_in[over]).all()  # every hair pixel over the face keeps the input's pixel
    _, hull_only = swap.preview_frame(gif, model, frame, swap.SwapOptions(label="", mask="hull"), cache)
    assert (hull_only.reshape(-1, 3)[over] != flat_in[over]).any(1).mean() > 0.5  # the plain hull paints over them
    assert (hair_kept != original).any(-1).sum() > 1000  # the rest of the face is still swapped


def test_a_photo_becomes_a_labelled_tagged_image(model, tmp_path):
    still = next(iter(video.FrameReader(assets.fetch(MAN, progress=False)))).image
    src = photos.write_image(tmp_path / "man.png", still, "", "")
    out = tmp_path / "out" / paths.output_name(src, "a2b")
    report = swap.convert(src, model, out, swap.SwapOptions(), progress=False)
    assert out.name == "man_a2b.png" and photos.read_tag(out) == SYNTHETIC_TAG
    img = video.FrameReader(out).__iter__().__next__().image
    assert img.shape == still.shape and report.faces_swapped == 1 and report.frames == 1
    assert img[:8, :40].mean() < 60  # the dark label box top-left (the GIF's wall there is light grey)
    jpg = swap.convert(src, model, tmp_path / "man.jpg", swap.SwapOptions(), progress=False)
    assert photos.read_tag(jpg.output) == SYNTHETIC_TAG
    with pytest.raises(ValueError, match="OUTPUT"):
        swap.convert(src, model, tmp_path / "man.mp4", swap.SwapOptions(), progress=False)


def test_a_batch_reports_and_skips_a_bad_file(model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    photos.write_image(folder / "still.png", next(iter(video.FrameReader(assets.fetch(MAN, progress=False)))).image, "", "")
    (folder / "broken.mp4").write_bytes(b"not a video")
    (folder / "notes.txt").write_text("not media")
    clip = folder / "clip.gif"
    clip.write_bytes(assets.fetch(WOMAN, progress=False).read_bytes())
    inputs = swap.input_files(folder)
    assert [p.name for p in inputs] == ["broken.mp4", "clip.gif", "still.png"]
    rows = batch.convert_many(inputs, model, tmp_path / "out", swap.SwapOptions(), progress=False)
    assert [bool(r["error"]) for r in rows] == [True, False, False] and "broken.mp4" in rows[0]["error"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip_a2b.mp4", "still_a2b.png"]
    assert rows[1]["frames"] == 23 and rows[2]["faces_swapped"] == 1
    assert "2 of 3 converted, 1 skipped" in batch.table(rows)
    assert swap.input_files(str(folder / "*.png")) == [folder / "still.png"]


def test_the_grid_overlay_draws_the_mask_edge_and_the_hair():
    still = [f.image for f in video.FrameReader(assets.fetch(WOMAN, progress=False))][12]
    with Landmarker("image", num_faces=1, blendshapes=False) as lm:
        face = lm.detect(still)[0]
    crop, matrix = align.crop_face(still, face.landmarks, 256)
    pts = align.transform_points(face.landmarks, matrix)
    green = np.array([40, 255, 40])
    red = np.array([255, 40, 40])
    hull = masks.crop_overlay(crop, pts, "hull")
    hair = masks.crop_overlay(crop, pts, "hull-hair", masks.HairSegmenter())
    assert (hull == green).all(-1).sum() > 300 and not (hull == red).all(-1).any()
    assert (hair == red).all(-1).sum() > 300  # her hair, outlined
    with pytest.raises(ValueError, match="mask="):
        masks.crop_overlay(crop, pts, "learned")
