"""Warped exemplars: the mesh warp lands a pattern on known landmarks; each region is chosen by its own landmarks, an
exemplar that does not fit fades, and the confidence map says where nothing fits (an open mouth among closed ones).

The warp test uses a drawn pattern on a known deformation; the others real GRID face sets (``aligned_project``:
MediaPipe landmarks of real frames, crops at 128 px).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplab.face import meshwarp
from swaplab.face.faceset import FaceSet, load_training_arrays
from swaplab.model import detail, exemplars, pairs
from swaplab.model.models import build_swap_model

LOWER_LIP = [146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324]


def _deformed(points: np.ndarray, size: int) -> np.ndarray:
    """A smooth, non-affine deformation of points in a ``size`` px image (up to ~6 % of the side)."""
    x, y = points[:, 0] / size, points[:, 1] / size
    return points + size * np.stack([0.04 * np.sin(3 * y) + 0.02 * x, 0.05 * np.sin(2.5 * x) * y], -1)


def _dots(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32: a small Gaussian dot on each point (sub-pixel)."""
    ys, xs = np.mgrid[:size, :size].astype(np.float32)
    img = np.zeros((size, size), np.float32)
    for px, py in points:
        img += np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * 1.2 ** 2))
    return img


def _centroid(img: np.ndarray, at: np.ndarray, r: int = 4) -> np.ndarray:
    x, y = np.round(at).astype(int)
    patch = img[y - r:y + r + 1, x - r:x + r + 1]
    ys, xs = np.mgrid[y - r:y + r + 1, x - r:x + r + 1]
    return np.array([(xs * patch).sum(), (ys * patch).sum()]) / patch.sum()


@pytest.mark.parametrize("grid", [64, 128])
def test_the_mesh_warp_moves_a_known_pattern_onto_known_landmarks_within_a_pixel(grid):
    size = 128
    rng = np.random.default_rng(0)
    lattice = np.stack(np.meshgrid(np.arange(16, 113, 12.0), np.arange(16, 113, 12.0)), -1).reshape(-1, 2)
    src = np.concatenate([lattice + rng.uniform(-2, 2, lattice.shape), [[5, 5], [122, 5], [5, 122], [122, 122]]])
    dst = _deformed(src, size)
    tri = meshwarp.triangulate(src)
    warp_map = meshwarp.Mesh(dst, tri, size, grid).map_from(src)
    warped = meshwarp.remap(_dots(src, size), warp_map)
    inner = [i for i, p in enumerate(dst) if 10 < p.min() and p.max() < size - 10]
    err = [np.linalg.norm(_centroid(warped, dst[i]) - dst[i]) for i in inner]
    assert len(inner) > 20 and max(err) < 1.0, sorted(err)[-3:]
    unwarped = [np.linalg.norm(_centroid(_dots(src, size), dst[i]) - dst[i]) for i in inner]
    assert np.median(unwarped) > 2.0  # the test can fail: without the warp the dots sit elsewhere
    # a box of the map is the same map
    box = (30, 40, 90, 70)
    assert np.abs(meshwarp.Mesh(dst, tri, size, grid).map_from(src, box) - warp_map[40:70, 30:90]).max() < 1e-3
    # moving least squares, to compare: smooth, near the points but not on them
    mls = meshwarp.remap(_dots(src, size), meshwarp.mls_map(src, dst, size, 32))
    assert np.median([np.linalg.norm(_centroid(mls, dst[i]) - dst[i]) for i in inner]) < 1.5


def _not(bank, i: int) -> np.ndarray:
    """Every exemplar but face ``i`` itself (the fixture's face sets are one 3 s clip each: few are 2 s away)."""
    return np.arange(len(bank)) != i


def _open_mouth(landmarks: np.ndarray, px: float) -> np.ndarray:
    out = np.array(landmarks, np.float32)
    out[LOWER_LIP, 1] += px
    return out


def test_each_region_is_found_by_its_own_landmarks_and_a_far_exemplar_fades(bank):
    assert bank.mesh is not None and bank.mesh.shape[1:] == (478, 2)
    sig = bank.sigmas()
    assert set(sig) == {*exemplars.REGIONS, "face"} and all(0 < s < 10 for s in sig.values())
    q = bank.mesh[3]
    near = bank.region_neighbours(q, 4, allowed=_not(bank, 3))
    for name, (idx, w) in near.items():
        assert len(idx) == 4 and np.all(np.diff(w) <= 1e-6) and w.sum() <= 1 + 1e-6, name
    # the mouth of face 3 opened wide: its mouth finds nothing that fits (weights fade), its eyes still do
    opened = bank.region_neighbours(_open_mouth(q, 10.0), 4, allowed=_not(bank, 3))
    assert opened["mouth"][1].sum() < 0.2 < 0.9 < opened["eye_l"][1].sum(), (opened["mouth"][1], opened["eye_l"][1])
    assert list(opened["eye_l"][0]) == list(near["eye_l"][0])  # the eyes are chosen by the eyes alone
    # a far exemplar (past the nearest half of the bank) weighs less than a near one
    far = bank.region_neighbours(q, 4, allowed=_not(bank, 3), skip={"mouth": len(bank) // 2})
    assert far["mouth"][1][0] < near["mouth"][1][0]
    with pytest.raises(ValueError, match=r"query has shape \(90, 2\): give a face's 478 landmarks"):
        bank.region_neighbours(q[:90])


def test_the_confidence_map_is_low_where_the_mouth_is_open_and_the_exemplars_closed(bank):
    q = _open_mouth(bank.mesh[3], 10.0)
    out = bank.warped_detail(q, bank.region_neighbours(q, allowed=_not(bank, 3)), 32)
    assert out.shape == (128, 128, 4) and np.isfinite(out).all()
    conf = out[..., 3] / exemplars.CONF_SCALE
    mouth = conf[tuple(np.round(q[[13, 14]].mean(0)[::-1]).astype(int))]  # between the inner lips
    eye = conf[tuple(np.round(q[[468]].mean(0)[::-1]).astype(int))]  # the left iris
    assert mouth < 0.3 and eye > 0.8, (mouth, eye)
    # where it fits, the warped detail is there and zero-mean (a band, relative to the brightness)
    same = bank.warped_detail(bank.mesh[3], bank.region_neighbours(bank.mesh[3], allowed=_not(bank, 3)), 32)
    assert same[..., :3].std() > 0.01 and abs(float(same[..., :3].mean())) < 0.02


def test_the_warped_exemplar_detail_lines_up_with_the_face_better_than_unwarped(bank, aligned_project):
    """The crop's own high-pass detail against its exemplars' (from other moments of the clip): moved onto the face,
    the detail correlates better with the face's own than left in the exemplars' geometry."""
    data, _, project = aligned_project
    images, _ = load_training_arrays(data / project / "b" / "faces", 128)
    gains = []
    for i in range(0, len(bank), max(len(bank) // 12, 1)):
        apart = np.abs(bank.times - bank.times[i]) > 1.0  # other moments of the clip: another mouth, another gaze
        x = images[i].astype(np.float32) / 255
        blur = cv2.GaussianBlur(x, (0, 0), exemplars.SIGMA * 4)
        own = ((x - blur) / (blur + exemplars.RELATIVE_EPS)).mean(-1)
        warped = bank.warped_detail(bank.mesh[i], bank.region_neighbours(bank.mesh[i], allowed=apart), 32)
        flat = bank.detail(*bank.neighbours(bank.points[i], allowed=apart), 32)
        inner = cv2.fillConvexPoly(np.zeros((128, 128), np.uint8), cv2.convexHull(np.round(bank.points[i]).astype(np.int32)), 1) > 0
        gains.append(np.corrcoef(own[inner], warped[..., :3].mean(-1)[inner])[0, 1] - np.corrcoef(own[inner], flat.mean(-1)[inner])[0, 1])
    assert np.median(gains) > 0, gains


def test_a_cascade_of_a_warping_net_draws_with_warped_exemplars_and_their_confidence(bank):
    spec = detail.DetailSpec(32, 128, width=8, blocks=1, warp=True, confidence=True)
    assert spec.channels == 4 and detail.spec_for("tiny", 32, 128).warp == detail.WARP
    cascade = detail.Cascade(build_swap_model("tiny", 32), detail.build_detail_model(spec), {"b": bank})
    faces = np.stack([cv2.resize(bank.image(i), (32, 32), interpolation=cv2.INTER_AREA) for i in (1, 2)])
    fine = cascade.exemplar_detail(bank.mesh[[1, 2]], "b")
    assert fine.shape == (2, 128, 128, 4)
    drawn = cascade.swap(faces, "b", landmarks=bank.mesh[[1, 2]])
    up = cascade.detail.enhance(cascade.autoencoder.swap(faces, to="b"), "b")  # no exemplars: the upscale alone
    assert drawn.shape == (2, 128, 128, 3) and np.abs(drawn - up).mean() > 1e-3
    with pytest.raises(ValueError, match=r"fine has shape \(2, 128, 128, 3\): expected \(2, 128, 128, 4\)"):
        cascade.detail.enhance(faces, "b", fine=fine[..., :3])
    old = exemplars.ExemplarBank(bank.jpegs, bank.points, bank.size)  # a bank saved before warping: no mesh
    with pytest.raises(ValueError, match="no face mesh .*train this RUN's detail stage on"):
        old.region_neighbours(bank.mesh[0])


def test_a_saved_bank_keeps_its_mesh(bank, tmp_path):
    back = exemplars.ExemplarBank.load(bank.subsample(10).save(tmp_path / "b.npz"))
    assert back.mesh.shape == (10, 478, 2) and np.allclose(back.points, back.mesh[:, exemplars.INNER_FACE])
    assert FaceSet  # the face set's own reader is what bank_of used


def test_a_warping_net_trains_on_far_warped_exemplars_with_their_confidence(bank, aligned_project):
    data, _, project = aligned_project
    big = load_training_arrays(data / project / "b" / "faces", 128)
    small = (np.stack([cv2.resize(i, (32, 32), interpolation=cv2.INTER_AREA) for i in big[0]]), None)
    spec = detail.DetailSpec(32, 128, width=8, blocks=1, warp=True, confidence=True)
    sides = pairs.training_sides(None, (small, small), (big, big), "degraded", {"a": bank, "b": bank}, spec=spec, far_share=1.0)
    fine = sides["b"][1]
    assert fine.dtype == np.int8 and fine.shape == (len(bank), 128, 128, 4)
    near = pairs.training_sides(None, (small, small), (big, big), "degraded", {"a": bank, "b": bank}, spec=spec, far_share=0.0)
    assert fine[..., 3].mean() < near["b"][1][..., 3].mean()  # far exemplars: less confidence, as a swap meets them
    model = detail.build_detail_model(spec)
    model.compile(optimizer="adam")
    model.fit(pairs.make_dataset(sides, 4, 0, "degraded", 32), steps_per_epoch=2, epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2
