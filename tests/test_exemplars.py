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


def _walks(n, points, seed=1, sources=6):
    """``n`` faces of ``sources`` clips at 25 fps, each a walk through a few expressions: (sets, sources, times)."""
    rng = np.random.default_rng(seed)
    modes = rng.normal(0, 1.5, (6, len(points), 2))
    src = np.sort(rng.integers(0, sources, n))
    times = np.concatenate([np.arange((src == s).sum()) / 25.0 for s in range(sources)]).astype(np.float32)
    walk = np.cumsum(rng.normal(0, 0.3, (n, 6)), 0) + rng.normal(0, 2, (sources, 6))[src]
    sets = BASE[points] + np.einsum("nm,mpc->npc", walk, modes) + rng.normal(0, 0.05, (n, len(points), 2))
    return sets.astype(np.float32), src, times


def test_the_approximate_search_finds_nearly_all_exemplars_of_the_whole_search_and_only_allowed_ones():
    """Big banks (over ``EXACT_MAX``) search a reduced space: here on 800 faces, against the search over the whole
    bank, it finds at least 95 % of the exemplars, with their true distances, never one of the face's own clip."""
    sets, sources, times = _walks(800, INNER_FACE)
    rng = np.random.default_rng(2)
    for skip in (np.zeros(800, np.int64), np.where(rng.random(800) < 0.5, rng.integers(0, 40, 800), 0)):
        got, got_d = neighbours.approximate(sets, 4, sources, times, exemplars.GAP_S, skip)
        want, _ = _brute_nearest(sets, 4, sources, times, skip)
        found = sum(len(set(g) & set(w)) for g, w in zip(got, want)) / want.size
        assert found >= 0.95, found
        assert (got >= 0).all() and np.allclose(got_d, neighbours.mean_distance(sets[got], sets[:, None]), rtol=1e-5)
        assert ((sources[got] != sources[:, None]) | (np.abs(times[got] - times[:, None]) > exemplars.GAP_S)).all()
        assert (np.diff(got_d, axis=1) >= 0).all()
    rows = np.array([5, 400, 799])  # some faces only, in their order
    assert np.array_equal(neighbours.approximate(sets, 4, sources, times, exemplars.GAP_S, rows=rows)[0],
                          neighbours.approximate(sets, 4, sources, times, exemplars.GAP_S)[0][rows])
    alone = neighbours.approximate(sets, 1, np.zeros(800), np.zeros(800), exemplars.GAP_S)  # one moment: none allowed
    assert (alone[0] == -1).all() and np.isinf(alone[1]).all()
    anyone = neighbours.approximate(sets, 1, np.zeros(800), np.zeros(800), exemplars.GAP_S, rows=rows, any_other=True)[0]
    assert (anyone[:, 0] != rows).all() and (anyone >= 0).all()


def test_a_bank_over_the_threshold_takes_the_approximate_search_and_far_skips_among_its_candidates(monkeypatch):
    n = 300
    mesh, sources, times = _walks(n, np.arange(478), seed=4, sources=3)
    images, _ = synthetic_faces(n, 64, seed=3)
    small = exemplars.ExemplarBank.from_arrays(images, mesh, sources, times)
    exact_sigmas, exact_idx = small.sigmas(), small.neighbours_of_each()[0]
    monkeypatch.setattr(neighbours, "EXACT_MAX", 100)
    monkeypatch.setattr(neighbours, "FAR_RANKS", 20)
    big = exemplars.ExemplarBank.from_arrays(images, mesh, sources, times)
    idx, w = big.neighbours_of_each()
    assert np.array_equal(idx, neighbours.approximate(big.points, exemplars.K, sources, times, exemplars.GAP_S)[0])
    assert np.mean(idx == exact_idx) > 0.9 and np.allclose(w.sum(1), 1, atol=1e-5)
    for name, s in big.sigmas().items():  # the same 300 faces' nearest, found in the reduced space
        assert s == pytest.approx(exact_sigmas[name], rel=0.05), name
    every = big.region_neighbours_of_each(far_share=1.0, seed=0)
    near = big.region_neighbours_of_each(far_share=0.0, seed=0)
    for r in ("mouth", "face"):  # far exemplars: at most about FAR_RANKS + K allowed ones nearer (not n // 4 = 75)
        pts = big._regions()[r]
        ranks = []
        for i in range(n):
            d = exemplars._distance(pts, pts[i])
            ranks.append(int(((d < d[every[i][r][0][-1]]) & big.others(i)).sum()))
        assert max(ranks) < 30 and all(len(e[r][0]) == exemplars.K for e in every), max(ranks)
        assert np.mean([set(a[r][0]) != set(b[r][0]) for a, b in zip(every, near)]) > 0.5
