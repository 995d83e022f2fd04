"""How much a run's float16 export changes the faces it draws, and how much smaller it is than the checkpoint.

``runs.save`` writes beside each checkpoint an export without the optimizer's state, in float16 but for
variables of fewer than ``runs.FLOAT32_BELOW`` values (what ``runs.load`` and 04_swap read). This draws the
same faces of both people (A->B, B->A, A->A, B->B) with the export and with the full checkpoint, and prints
the largest and the mean difference in 8-bit levels (a difference under 0.5 level leaves the 8-bit picture as
it was, but for pixels that sat on a rounding edge), the share of 8-bit values that change, and the variables
whose float16 rounding alone moves the faces most. A run saved before exports existed gets one written to a
temporary folder. The detail stage, when the run has one, is measured the same way.

    python benchmarks/export_precision.py weights/demo/main --data-dir data
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from swaplab.core import paths
from swaplab.face.faceset import load_training_arrays
from swaplab.model import detail, runs
from swaplab.model.models import build_swap_model


def faces_of(config: dict, data_dir: Path, size: int, n: int) -> list[np.ndarray]:
    """Up to ``n`` faces of each person of the run, at ``size`` px, uint8."""
    return [load_training_arrays(paths.faces_dir(data_dir, config["project"], config[p]), size)[0][:n]
            for p in ("person_a", "person_b")]


def draw(model, faces) -> np.ndarray:
    """A->B, B->A, A->A, B->B of the autoencoder (or the detail nets on those faces) as one array in [0, 1]."""
    a, b = faces
    if isinstance(model, detail.DetailModel):
        return np.concatenate([model.enhance(a, "b"), model.enhance(b, "a"), model.enhance(a, "a"), model.enhance(b, "b")])
    return np.concatenate([model.swap(a, "b"), model.swap(b, "a"), model.reconstruct(a, "a"), model.reconstruct(b, "b")])


def compare(full, exported, faces, label: str, sizes: tuple[int, int]) -> None:
    ref, got = draw(full, faces), draw(exported, faces)
    d = np.abs(got - ref) * 255
    moved = np.mean(np.round(got * 255) != np.round(ref * 255))
    print(f"{label}: export {sizes[1] / 1e6:.1f} MB vs checkpoint {sizes[0] / 1e6:.1f} MB ({sizes[1] / sizes[0]:.2f}); "
          f"float16 moves the faces by at most {d.max():.3f} of an 8-bit level (mean {d.mean():.4f}), "
          f"{moved:.2%} of 8-bit values change", flush=True)
    weights, worst = full.get_weights(), []
    for i, v in enumerate(full.weights):  # one variable rounded at a time
        if weights[i].size < runs.FLOAT32_BELOW:
            continue
        one = [w.astype(np.float16).astype(np.float32) if j == i else w for j, w in enumerate(weights)]
        full.set_weights(one)
        worst.append((float(np.abs(draw(full, faces) - ref).max() * 255), v.path, tuple(v.shape)))
    full.set_weights(weights)
    print("  most sensitive variables (max levels):", ", ".join(f"{p} {s} {m:.3f}" for m, p, s in sorted(worst)[::-1][:4]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run folder, e.g. weights/demo/main")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="the face sets' root (DATA_DIR)")
    ap.add_argument("--faces", type=int, default=32, help="faces of each person")
    args = ap.parse_args()
    config = runs.read_config(args.run)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / args.run.name  # a copy with fresh exports: the run folder is left as it is
        run.mkdir()
        shutil.copy(args.run / runs.CONFIG, run)
        for name in (runs.CHECKPOINT, runs.DETAIL):
            if (args.run / name).exists():
                shutil.copy(args.run / name, run / name)
                runs.export(run / name, run / runs.export_of(name))
        full = build_swap_model(config["model"], config["image_size"])
        runs.load_weights(full, run, "RUN")
        sizes = tuple((run / n).stat().st_size for n in (runs.CHECKPOINT, runs.EXPORT))
        compare(full, runs.load(run), faces_of(config, args.data_dir, config["image_size"], args.faces), "autoencoder", sizes)
        if runs.has_detail(run) and config.get("detail_spec"):
            net = detail.build_detail_model(detail.DetailSpec(**config["detail_spec"]))
            runs.load_weights(net, run, "RUN", runs.DETAIL)
            decoded = [full.reconstruct(f, s) for f, s in zip(faces_of(config, args.data_dir, config["image_size"], args.faces), "ab")]
            sizes = tuple((run / n).stat().st_size for n in (runs.DETAIL, runs.DETAIL_EXPORT))
            compare(net, runs.load_detail(run), decoded, "detail stage", sizes)


if __name__ == "__main__":
    main()
