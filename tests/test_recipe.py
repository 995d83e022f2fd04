"""The training recipe's pieces: schedule, warp decay, edge loss, pretraining -> INIT_FROM, config from parameters,
and the model-resolution warning. Real Keras and the "tiny" model; seconds each."""

import json

import numpy as np
import pytest
import tensorflow as tf

from swaplab.align import report
from swaplab.core import paths
from swaplab.model import runs
from swaplab.model.losses import face_loss, masked_edges, masked_mae
from swaplab.model.models import MODELS, build_swap_model, flops_per_face
from swaplab.train.augment import AugmentConfig
from swaplab.train.config import TrainConfig
from swaplab.train.data import make_dataset
from swaplab.train.loop import train
from swaplab.train.schedule import LR_FLOOR, learning_rate_at, run_progress, warp_at
from swaplab.train.testing import synthetic_faces

DATA = (synthetic_faces(12, 32, person=0), synthetic_faces(12, 32, person=1))


def test_schedule_warms_up_then_decays_on_steps_or_time():
    c = TrainConfig(project="p", steps=1000, learning_rate=1e-3, lr_schedule="cosine", warmup_steps=100, warp_end=0.25)
    assert learning_rate_at(0, 0.0, c) == pytest.approx(1e-5)  # first warm-up step
    assert learning_rate_at(99, 0.099, c) == pytest.approx(1e-3 * (1 + np.cos(np.pi * 0.099)) / 2 * (1 - LR_FLOOR) + 1e-4)
    assert learning_rate_at(1000, 1.0, c) == pytest.approx(LR_FLOOR * 1e-3)
    assert run_progress(500, 0.0, c) == 0.5
    timed = TrainConfig(project="p", steps=10**6, time_budget_min=10.0)
    assert run_progress(10, 300.0, timed) == pytest.approx(0.5)  # a time-boxed run decays on time
    assert run_progress(10, 3000.0, timed) == 1.0  # a resumed run past its plan stays at the end
    assert warp_at(0.0, c) == 1.0 and warp_at(0.5, c) == pytest.approx(0.625) and warp_at(1.0, c) == pytest.approx(0.25)
    flat = TrainConfig(project="p", lr_schedule="constant", warmup_steps=0, learning_rate=5e-4)
    assert learning_rate_at(0, 0.0, flat) == learning_rate_at(10**6, 1.0, flat) == 5e-4
    with pytest.raises(ValueError, match="LR_SCHEDULE"):
        TrainConfig(project="p", lr_schedule="step").validate()
    with pytest.raises(ValueError, match="WARP_END"):
        TrainConfig(project="p", warp_end=1.5).validate()


def test_warp_strength_variable_reaches_the_input_pipeline():
    """With the warp at 0 and no colour jitter, the network's input is its target; at 1 it is not."""
    still = AugmentConfig(brightness=0, contrast=0, saturation=0, hue_deg=0)
    strength = tf.Variable(1.0)
    ds = make_dataset(*DATA[0], batch_size=4, seed=0, augment=still, warp_strength=strength)
    warped, target, _ = next(iter(ds))
    assert float(tf.reduce_mean(tf.abs(warped - target))) > 0.01
    strength.assign(0.0)
    warped, target, _ = next(iter(make_dataset(*DATA[0], batch_size=4, seed=0, augment=still, warp_strength=strength)))
    assert float(tf.reduce_max(tf.abs(warped - target))) < 1e-5


def test_edge_loss_sees_blur_not_a_brightness_shift():
    face = tf.constant(DATA[0][0][:2], tf.float32) / 255.0
    blurred = tf.nn.avg_pool2d(tf.pad(face, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC"), 3, 1, "VALID")
    weight = tf.ones_like(face[..., :1])
    assert float(masked_edges(face, face, weight)) == 0.0
    assert float(masked_edges(face, face + 0.1, weight)) == pytest.approx(0.0, abs=1e-6)  # no edge moved
    assert float(masked_edges(face, blurred, weight)) > 0.005
    mask = tf.concat([weight, tf.zeros_like(weight)], -1)
    # the same blur costs more with the edge term on
    assert float(face_loss(face, blurred, mask, edge_weight=1.0)) > float(face_loss(face, blurred, mask)) + 0.005
    assert float(masked_mae(face, face + 0.1, weight)) == pytest.approx(0.1, rel=1e-4)


def test_lite128_draws_128_px_for_a_little_more_than_lite():
    m = build_swap_model("lite128")
    assert m.image_size == 128 and m.swap(np.zeros((1, 128, 128, 3), np.uint8)).shape == (1, 128, 128, 3)
    assert flops_per_face(m) < 1.5 * flops_per_face(build_swap_model("lite"))
    assert MODELS["lite128"].image_size == 2 * MODELS["lite"].image_size


def test_config_from_notebook_parameters():
    params = {"PROJECT": "p", "PERSON_A": "x", "PERSON_B": "y", "EDGE_WEIGHT": 0.5, "LR_SCHEDULE": "constant",
              "PRETRAIN_PEOPLE": [], "INTERACTIVE": True, "SOMETHING_ELSE": 1}
    c = TrainConfig.from_parameters(params)
    assert (c.person_a, c.person_b, c.edge_weight, c.lr_schedule, c.interactive) == ("x", "y", 0.5, "constant", True)
    with pytest.raises(ValueError, match="PERSON_A"):
        TrainConfig.from_parameters({"PROJECT": "p", "PERSON_A": "../x"}).validate()


def _face_set(data_dir, project, person, images):
    """A minimal face set on disk in 02_align's format (crops + index + summary), from synthetic faces."""
    import cv2

    from swaplab.core.files import write_json

    faces = paths.faces_dir(data_dir, project, person)
    (faces / "crops").mkdir(parents=True)
    rows = []
    for i, img in enumerate(images):
        name = f"crops/{person}_{i:03d}.jpg"
        cv2.imwrite(str(faces / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        lm = np.random.default_rng(i).uniform(8, 24, (478, 2))  # crop-space landmarks (only the masks use them)
        rows.append({"source": "s", "frame": i, "face": 0, "file": name, "landmarks": lm.tolist(),
                     "matrix": [[1, 0, 0], [0, 1, 0]], "kept": True, "why": None})
    (faces / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_json(faces / "summary.json", {"face_size": images.shape[1], "sources": {"s": {}}})


def test_pretrain_base_then_a_new_pair_starts_from_it(tmp_path):
    data, weights = tmp_path / "data", tmp_path / "weights"
    for k, person in enumerate(("p1", "p2", "p3")):
        _face_set(data, "base", person, synthetic_faces(8, 32, person=k)[0])
    for k, person in enumerate(("a", "b")):
        _face_set(data, "pair", person, synthetic_faces(8, 32, person=k, seed=5)[0])
    common = dict(model="tiny", batch_size=4, log_every=1, save_every=100, preview_every=100, data_dir=str(data),
                  weights_dir=str(weights), learning_rate=1e-3)
    base = TrainConfig(project="base", run="pre", steps=3, pretrain_people=("p1", "p2", "p3"), **common)
    r = train(base)
    assert r["steps_done"] == 3 and json.loads((base.run_dir / "config.json").read_text())["pretrain_people"] == ["p1", "p2", "p3"]
    pair = TrainConfig(project="pair", run="warm", steps=1, init_from="base/pre", **common)
    r = train(pair)
    assert r["warm_start"]["init_from"] == "base/pre" and r["steps_done"] == 1
    # one step from the base's weights: the encoder stays close to the base's, far from a fresh init
    w_base, w_warm = (runs.load(c.run_dir).encoder.get_weights()[0] for c in (base, pair))
    fresh = build_swap_model("tiny").encoder.get_weights()[0]
    assert np.abs(w_warm - w_base).mean() < 0.2 * np.abs(fresh - w_base).mean()
    with pytest.raises(ValueError, match="PRETRAIN_PEOPLE"):
        TrainConfig(project="base", pretrain_people=("p1",)).validate()
    with pytest.raises(ValueError, match="INIT_FROM"):
        TrainConfig(project="pair", init_from="a/b/c").validate()


def test_resolution_warning_names_the_stretch():
    assert report.resolution_warning(180.0, 128, "a's footage") is None  # 1.4x: fine
    w = report.resolution_warning(180.0, 64, "a's footage")
    assert "2.8x" in w and "lite128" in w and "a's footage" in w
    assert report.resolution_warning(None, 64, "x") is None


def test_precision_follows_the_hardware_unless_forced():
    """auto: mixed_float16 on a GPU; on a CPU mixed_bfloat16 only where it has bf16 units; a forced value wins."""
    from swaplab.train.distribute import compute_dtype, cpu_has_bf16

    assert compute_dtype("auto", on_gpu=True, bf16=True) == "mixed_float16"
    assert compute_dtype("auto", on_gpu=False, bf16=True) == "mixed_bfloat16"
    assert compute_dtype("float32", on_gpu=False, bf16=True) is None
    assert compute_dtype("auto", on_gpu=False, bf16=False) is None
    assert compute_dtype("mixed_bfloat16", on_gpu=False, bf16=False) == "mixed_bfloat16"
    assert compute_dtype("auto", on_gpu=False) == ("mixed_bfloat16" if cpu_has_bf16() else None)  # this machine
    with pytest.raises(ValueError, match="PRECISION='half'"):
        TrainConfig(project="p", precision="half").validate()


def test_learning_rate_none_is_the_models_own():
    assert TrainConfig(project="p", model="slim").validate(faces=False).learning_rate == MODELS["slim"].learning_rate == 1e-3
    assert TrainConfig(project="p", model="lite").validate(faces=False).learning_rate == 5e-4
    assert TrainConfig(project="p", model="lite", learning_rate=2e-4).validate(faces=False).learning_rate == 2e-4
    with pytest.raises(ValueError, match="LEARNING_RATE=0: must be > 0, or None"):
        TrainConfig(project="p", learning_rate=0).validate()


def test_validate_checks_the_face_sets_and_the_run_folder(tmp_path):
    """validate() names what is missing on disk before any slow work: a face set, STEPS below a run's steps."""
    data, weights = tmp_path / "data", tmp_path / "weights"
    c = TrainConfig(project="p", model="tiny", batch_size=4, steps=2, log_every=1, save_every=100, preview_every=100,
                    data_dir=str(data), weights_dir=str(weights))
    with pytest.raises(FileNotFoundError, match="faces does not exist: run 02_align for person 'a' first"):
        c.validate()
    train(c, data=DATA)  # in memory: no face set needed
    c.steps = 1
    with pytest.raises(ValueError, match="STEPS=1 is below the 2 steps RUN='main' has already trained"):
        c.validate(faces=False)
