"""The training data: both face sets in memory (``load_training_data``, ``load_detail_data``; in pretrain mode the
PRETRAIN_PEOPLE pooled on both sides), and the tf.data stream that shuffles, batches and warps them in the graph
(``make_dataset``: ``augment.augment_batch`` per batch, with a stateless seed, so it resumes at any step)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from swaplab.core import paths
from swaplab.face.faceset import MASK_CHANNELS, sketch_of
from swaplab.model import exemplars, runs
from swaplab.model.models import MODELS, SKETCH_DROP
from swaplab.train.augment import AugmentConfig, augment_batch


def make_dataset(images, masks, batch_size: int, seed: int, augment: AugmentConfig | None = None,
                 start: int = 0, warp_strength=1.0) -> tf.data.Dataset:
    """Endless batches of (warped, target, mask) from in-memory arrays of one person.

    images (N, S, S, 3) uint8, masks (N, S, S, 2) uint8 in {0, 255}. Shuffled, batched,
    then augmented per batch in the graph (``augment_batch``), with a stateless seed
    (seed, batch index): the stream is reproducible and ``start`` skips ahead on resume.
    Masks of 4 channels carry the face's sketch in the last two (``load_training_arrays(sketch=True)``): it is moved
    with the target and comes out as a fourth item, (B, S, S, 2) in [0, 1], blank for ``models.SKETCH_DROP`` of the faces.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if len(images) < batch_size:
        raise ValueError(f"{len(images)} faces but BATCH_SIZE={batch_size}: collect more faces or lower BATCH_SIZE")
    ds = tf.data.Dataset.from_tensor_slices((images, masks))
    ds = ds.shuffle(len(images), seed=seed + start, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=True)  # fixed shapes: one trace of train_step
    ds = tf.data.Dataset.zip(ds, tf.data.Dataset.counter(start))
    augment = augment or AugmentConfig()
    sketched = sketch_of(masks) is not None

    def batch_of(pair, i):
        seed_i = tf.stack([tf.cast(seed, tf.int64), i])
        warped, target, mask = augment_batch(pair[0], pair[1], seed_i, augment, warp_strength)
        if not sketched:
            return warped, target, mask
        keep = tf.random.stateless_uniform((tf.shape(mask)[0], 1, 1, 1), seed_i + 7919) >= SKETCH_DROP
        return warped, target, mask[..., :MASK_CHANNELS], sketch_of(mask) * tf.cast(keep, tf.float32)

    ds = ds.map(batch_of, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_training_dataset(data_a, data_b, batch_size: int, seed: int, augment: AugmentConfig | None = None,
                          start: int = 0, warp_strength=1.0) -> tf.data.Dataset:
    """A and B zipped into the dict ``SwapModel.train_step`` expects; data_x = (images, masks) (masks with the sketch:
    ``sketch_a`` and ``sketch_b`` too)."""
    ds_a = make_dataset(*data_a, batch_size, seed, augment, start, warp_strength)
    ds_b = make_dataset(*data_b, batch_size, seed + 1, augment, start, warp_strength)
    keys = ("warped", "target", "mask", "sketch")
    return tf.data.Dataset.zip(ds_a, ds_b).map(
        lambda a, b: {**{f"{k}_a": v for k, v in zip(keys, a)}, **{f"{k}_b": v for k, v in zip(keys, b)}})




def load_training_data(config):
    """((images_a, masks_a), (images_b, masks_b)) from the face sets: PERSON_A and PERSON_B, or in
    pretrain mode the PRETRAIN_PEOPLE pooled on both sides (each side shuffles and warps them on its own)."""
    from swaplab.face.faceset import load_training_arrays

    sketch = MODELS[config.model].sketch
    return _per_side(config, lambda folder: load_training_arrays(folder, config.image_size, sketch), _concatenated)


def with_expressions(config, data):
    """``data`` (per side (images, masks), from the face sets) with EXPRESSIONS x N more faces of each side appended,
    given other expressions (``faceset.load_expression_arrays``): what the autoencoder trains on. The previews and the
    detail stage keep the real faces only (the detail stage pairs them with its own by position)."""
    from swaplab.face.faceset import load_expression_arrays

    if not config.expressions:
        return data
    sketch = MODELS[config.model].sketch
    extra = _per_side(config, lambda folder: load_expression_arrays(folder, config.image_size, config.expressions,
                                                                     config.seed, sketch), _concatenated)
    return tuple((np.concatenate([d[0], e[0]]), np.concatenate([d[1], e[1]])) for d, e in zip(data, extra))


def load_detail_data(config):
    """((images_a, masks_a, bank_a), (images_b, masks_b, bank_b)) at DETAIL_SIZE from the face sets, in
    ``load_training_data``'s order; the banks (``exemplars``) hold the same faces with their landmarks."""
    from swaplab.face.faceset import load_training_arrays

    def faces(folder):
        images, masks = load_training_arrays(folder, config.detail_size)
        return images, masks, exemplars.bank_of(folder, images)

    return _per_side(config, faces, lambda sets: (*_concatenated(sets)[:2], exemplars.pooled([s[2] for s in sets])))


def provenance(config, data=None) -> dict:
    """{person: what this run loads of them} (``swaplab.model.provenance``): each face set of ``config.people`` as it is
    now, or for faces given in memory (``data``: one (images, ...) per side) the hash of the arrays."""
    from swaplab.model import provenance as prov

    if data is not None:
        return {config.person_a: prov.of_arrays(data[0][0]), config.person_b: prov.of_arrays(data[1][0])}
    return {p: prov.of_face_set(paths.faces_dir(config.data_dir, config.project, p)) for p in config.people}


class FaceSetChanged(ValueError):
    """A face set changed between the autoencoder's load and the detail stage's: its faces would be paired wrongly."""


def check_unchanged(config, loaded: dict, now: dict) -> None:
    """Raise ``FaceSetChanged`` in one line when a face set the autoencoder loaded this session changed since (by
    content hash, not count): the detail stage pairs its faces with the autoencoder's by position."""
    from swaplab.model.provenance import change

    changes = [c for p in loaded if p in now and (c := change(p, loaded[p], now[p]))]
    if changes:
        raise FaceSetChanged(f"{'; '.join(changes)} since the autoencoder loaded it this session (02_align ran meanwhile?): "
                             f"the detail stage would pair other faces; run 03_train again with RUN={config.run!r}: both "
                             "stages then load the face sets as they are now (the autoencoder resumes at its step)")


def say_changes(config, stage: str, now: dict) -> None:
    """One line per person whose face set changed since this stage of the run last saved (it trains on with the new)."""
    from swaplab.model import provenance as prov

    before = runs.read_provenance(config.run_dir)["stages"].get(stage, {})
    for person, entry in now.items():
        if person in before and (what := prov.change(person, before[person], entry)):
            print(f"{what} since RUN={config.run!r}'s {stage} stage last saved: it trains on with the faces as they are now "
                  "(provenance.json keeps the sources of both)", flush=True)


def _per_side(config, faces, pool):
    """(side A, side B): ``faces(folder)`` of PERSON_A's and PERSON_B's face sets, or in pretrain mode
    ``pool([faces of each of PRETRAIN_PEOPLE])`` on both sides: the one place pretraining pools."""
    def of(person):
        return faces(paths.faces_dir(config.data_dir, config.project, person))

    if not config.pretrain_people:
        return of(config.person_a), of(config.person_b)
    pooled = pool([of(p) for p in config.pretrain_people])
    return pooled, pooled


def _concatenated(sets):
    """Each field of several people's (images, masks, ...) joined."""
    return tuple(np.concatenate([s[i] for s in sets]) for i in (0, 1))


def bank(faces):
    """A side's exemplar bank: given with its faces ((images, masks, bank), from the face sets), or made from
    (images, masks, landmarks) given in memory (each face a source of its own), or None for (images, masks)."""
    if len(faces) < 3:
        return None
    if isinstance(faces[2], exemplars.ExemplarBank):
        return faces[2]
    return exemplars.ExemplarBank.from_arrays(faces[0], faces[2], sources=np.arange(len(faces[0])))

