"""Exemplar banks: found by expression and pose, from other sources when training, steady in video, saved whole."""

from __future__ import annotations

import numpy as np
import pytest

from swaplab.face.metrics import INNER_FACE
from swaplab.model import exemplars, neighbours
from swaplab.train.testing import synthetic_faces

RNG = np.random.default_rng(0)
BASE = RNG.uniform(40, 90, (478, 2)).astype(np.float32)  # a face shape at 128 px


def _bank(n=12, sources=None, times=None, shift=0.0):
    images, _ = synthetic_faces(n, 128, seed=3)
    # face i has its inner-face points moved by i px to the right: "expression" i
    landmarks = np.stack([BASE + [i + shift, 0.0] for i in range(n)])
    return exemplars.ExemplarBank.from_arrays(images, landmarks, sources, times)


def test_the_nearest_expression_is_found_and_weighted_most():
    bank = _bank()
    idx, w = bank.neighbours(bank.query(BASE + [5.2, 0.0]))
    assert list(idx[:2]) == [5, 6] and w[0] > w[1] > 0 and w.sum() == pytest.approx(1.0) and len(idx) == exemplars.K


def test_a_query_finds_the_crops_whose_features_sit_where_the_faces_do():
    """Person A's face sits 30 px further right than B's: A's landmarks find B's crops with features where A's are
    (where the decoder draws them), not B's same expression elsewhere (``Cascade.exemplar_detail`` says why)."""
    face_a = BASE + [30.0 + 4, 0.0]  # A in expression 4
    assert _bank().neighbours(_bank().query(face_a))[0][0] == 11


def test_training_exemplars_come_from_other_sources_or_far_away():
    bank = _bank(sources=[0] * 6 + [1] * 6, times=[0.1 * i for i in range(12)])
    idx, w = bank.neighbours_of_each()
    for i in range(12):
        used = idx[i][w[i] > 0]
        assert len(used) and all(bank.sources[j] != bank.sources[i] for j in used), (i, used)
    alone = _bank(n=4, sources=[0] * 4, times=[0.0, 0.5, 1.0, 1.5])  # one short source: nothing far enough
    assert (alone.neighbours_of_each()[1] == 0).all()


def test_detail_is_the_fine_part_of_the_exemplars():
    bank = _bank()
    d = bank.detail([3], [1.0], in_size=32)
    assert d.shape == (128, 128, 3) and abs(float(d.mean())) < 0.01 and d.std() > 0.01  # zero-mean detail
    assert np.allclose(bank.detail([], [], 32), 0)
    both = bank.detail([3, 4], [0.5, 0.5], 32)
    assert np.allclose(both, 0.5 * d + 0.5 * bank.detail([4], [1.0], 32), atol=1e-5)


def test_a_track_fades_between_exemplars_instead_of_jumping():
    bank = _bank()
    blender = exemplars.Blender(carry=0.5)
    blender.weights(bank, bank.query(BASE + [2.0, 0.0]), track=7)
    idx, w = blender.weights(bank, bank.query(BASE + [9.0, 0.0]), track=7)  # a sudden new expression
    weights = dict(zip(idx.tolist(), w.tolist()))
    assert 2 in weights and 9 in weights and weights[2] > 0.2  # the old exemplar is still there, fading
    assert exemplars.Blender(carry=0.5).weights(bank, bank.query(BASE + [9.0, 0.0]), track=None)[0][0] == 9
    blender.reset()
    assert blender.weights(bank, bank.query(BASE + [9.0, 0.0]), track=7)[0][0] == 9


def test_a_bank_is_saved_whole_spread_when_too_big_and_refused_when_damaged(tmp_path):
    bank = _bank(sources=list(range(12)), times=[1.0] * 12)
    back = exemplars.ExemplarBank.load(bank.save(tmp_path / "b.npz"))
    assert len(back) == 12 and back.size == 128 and np.allclose(back.points, bank.points)
    assert np.array_equal(back.image(5), bank.image(5)) and back.points.shape == (12, len(INNER_FACE), 2)
    spread = bank.subsample(8)  # the two most distant expressions first, then at random
    assert len(spread) == 8 and {0, 11} <= {int(round(p[0, 0] - BASE[INNER_FACE][0, 0])) for p in spread.points}
    assert np.allclose(exemplars.ExemplarBank.load(spread.save(tmp_path / "s.npz")).points, spread.points)
    (tmp_path / "bad.npz").write_bytes(b"not a bank")
    (tmp_path / "empty.npz").write_bytes(b"")
    for bad in ("bad.npz", "empty.npz"):
        with pytest.raises(OSError, match=f"{bad} is damaged .*delete it .*or restore a copy"):
            exemplars.ExemplarBank.load(tmp_path / bad)


def test_a_bank_too_few_of_whose_faces_have_exemplars_is_not_used(capsys):
    assert exemplars.usable(_bank(sources=[0] * 6 + [1] * 6), "person 'b'") is not None
    alone = _bank(n=4, sources=[0] * 4, times=[0.0, 0.5, 1.0, 1.5])  # one short clip: nothing from elsewhere
    assert alone.coverage() == 0.0 and exemplars.usable(alone, "person 'b'") is None
    assert "person 'b': only 0 % of the 4 faces have exemplars" in capsys.readouterr().out


def _brute_nearest(sets, k, sources, times, skip):
    """The search over the whole bank, face by face (what ``neighbours_of_each`` did before its k-d tree)."""
    idx, dist = np.full((len(sets), k), -1), np.full((len(sets), k), np.inf, np.float32)
    for i in range(len(sets)):
        d = np.sqrt(((sets - sets[i]) ** 2).sum(-1)).mean(1)
        d = np.where((sources != sources[i]) | (np.abs(times - times[i]) > exemplars.GAP_S), d, np.inf)
        m = min(skip[i] + k, int(np.isfinite(d).sum()))
        j = np.argsort(d, kind="stable")[skip[i]:m]
        idx[i, :len(j)], dist[i, :len(j)] = j, d[j]
    return idx, dist


@pytest.mark.parametrize("centred", [False, True])
def test_the_tree_finds_the_same_exemplars_as_a_search_over_the_whole_bank(centred):
    """Some hundreds of faces of 5 clips (and one source alone in 1.5 s, which has none but from other clips), each a
    walk through a few expressions: the k-d tree's exemplars, skips and distances are those of the whole search."""
    rng = np.random.default_rng(1)
    n, modes = 400, rng.normal(0, 1.5, (6, len(INNER_FACE), 2))
    sources = np.repeat(np.arange(6), [120, 100, 80, 50, 40, 10])
    times = np.concatenate([np.arange(c) / 25.0 if s < 5 else np.arange(c) * 0.15 for s, c in zip(range(6), [120, 100, 80, 50, 40, 10])])
    walk = np.cumsum(rng.normal(0, 0.3, (n, 6)), 0) + rng.normal(0, 2, (6, 6))[sources]
    sets = (BASE[INNER_FACE] + np.einsum("nm,mpc->npc", walk, modes)).astype(np.float32)
    sets = sets - sets.mean(1, keepdims=True) if centred else sets
    skip = np.where(rng.random(n) < 0.5, rng.integers(0, 60, n), 0)
    got, got_d = neighbours.nearest_allowed(sets, 4, sources, times.astype(np.float32), exemplars.GAP_S, skip)
    want, want_d = _brute_nearest(sets, 4, sources, times.astype(np.float32), skip)
    assert np.allclose(got_d, want_d, rtol=1e-5, atol=0, equal_nan=False) and np.array_equal(np.isinf(got_d), np.isinf(want_d))
    tied = np.isclose(np.diff(want_d, axis=1, prepend=-1), 0, atol=1e-6) | np.isclose(np.diff(want_d, axis=1, append=np.inf), 0, atol=1e-6)
    assert np.array_equal(got[~tied], want[~tied])
    assert (got[sources == 5, 0] >= 0).all() and not (sources[got[sources == 5, 0]] == 5).any()  # the short clip's: elsewhere


def test_coverage_and_the_banks_training_exemplars_match_the_face_by_face_rules():
    n = 60
    sources, times = np.repeat([0, 1, 2], 20), np.tile(np.arange(20) * 0.2, 3).astype(np.float32)
    images, _ = synthetic_faces(n, 64, seed=3)
    landmarks = BASE + np.random.default_rng(2).normal(0, 3, (n, 478, 2)).astype(np.float32)  # no ties
    bank = exemplars.ExemplarBank.from_arrays(images, landmarks, sources, times)
    idx, w = bank.neighbours_of_each()
    for i in range(n):  # what ``neighbours`` with ``others`` gives each face
        j, wj = bank.neighbours(bank.points[i], exemplars.K, bank.others(i))
        assert np.array_equal(idx[i], j) and np.allclose(w[i], wj, atol=1e-6), i
    one = _bank(n, [0] * n, np.arange(n) * 0.05)  # one 3 s clip: its middle faces have nothing 2 s away
    assert one.coverage() == pytest.approx(np.mean([one.others(i).any() for i in range(n)])) and 0 < one.coverage() < 1
    assert bank.coverage() == 1.0 and exemplars.ExemplarBank([], np.zeros((0, len(INNER_FACE), 2)), 64).coverage() == 0.0
    rng, top, names = np.random.default_rng(0), n // 4, (*exemplars.REGIONS, "face")
    every = bank.region_neighbours_of_each(far_share=0.5, seed=0)
    for i in range(n):  # the same random skips, drawn in the same order, as ``region_neighbours`` face by face
        skip = {r: int(np.exp(rng.uniform(0, np.log(top + 1)))) - 1 for r in names} if rng.random() < 0.5 else None
        one = bank.region_neighbours(bank.mesh[i], exemplars.K, bank.others(i), skip)
        for r in names:
            assert np.array_equal(every[i][r][0], one[r][0]) and np.allclose(every[i][r][1], one[r][1], atol=1e-6), (i, r)
