"""TrainConfig: every knob of a run (03_train's parameters); its checks are ``swaplab.train.checks``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from swaplab.core import paths
from swaplab.core.params import Parameters
from swaplab.model.models import DEFAULT_CPU_MODEL, MODELS
from swaplab.train.augment import AugmentConfig


@dataclass
class TrainConfig(Parameters):
    """Everything a run needs; 03_train's parameters map onto these fields (``from_parameters``)."""

    project: str  # the A/B experiment: data/<project>/ and weights/<project>/
    person_a: str = "a"  # folder of person A under data/<project>/
    person_b: str = "b"  # folder of person B
    run: str = "main"  # this run's folder under weights/<project>/; rerunning it resumes
    model: str = DEFAULT_CPU_MODEL  # architecture, a key of swaplab.model.models.MODELS
    batch_size: int = 16  # faces per person per step (global: split over GPUs)
    steps: int = 2000  # stop after this many steps in total (counting resumed ones)
    time_budget_min: float = 0.0  # also stop after this many training minutes of the run in all (both stages, every session); 0 = no limit
    learning_rate: float | None = None  # Adam step size at the schedule's peak; None = the model's own (MODELS[model].learning_rate)
    lr_schedule: str = "cosine"  # "constant", or "cosine": decay to LR_FLOOR of the peak at the run's end
    warmup_steps: int = 100  # steps of linear learning-rate warm-up (both schedules); 0 = none
    warp_end: float = 0.25  # warp strength at the run's end, as a share of the start (linear in between); 1 = constant
    precision: str = "auto"  # "auto": mixed_float16 on a GPU, mixed_bfloat16 on a CPU with bf16 units (AMX/AVX512-BF16), else float32
    ema_momentum: float = 0.0  # > 0: keep an exponential moving average of the weights (e.g. 0.99) and save it for inference
    clip_norm: float = 1.0  # clip the global gradient norm to this (typical norms are 0.1-0.8; spikes diverged runs); 0 = off
    init_from: str | None = None  # warm start from weights/<project>/<init_from>/ or "other_project/run" (fresh optimizer)
    pretrain_people: tuple[str, ...] = ()  # pretrain mode: both decoders learn these people's faces pooled (a base run)
    preview_every: int = 100  # steps between preview grids and loss plots
    save_every: int = 500  # steps between checkpoints (also saved at the end)
    save_every_min: float = 5.0  # also a checkpoint after this many minutes since the last (0: by steps only): a kill costs at most this
    log_every: int = 10  # steps between history.json records
    data_dir: str = "data"  # root of the face sets
    weights_dir: str = "weights"  # root of the runs
    seed: int = 0  # weights init, shuffling and augmentation
    interactive: bool = False  # Jupyter display (in-place plots, progress bar) vs printed lines + PNGs
    mae_weight: float = 1.0  # loss = mae_weight * masked MAE ...
    dssim_weight: float = 1.0  # ... + dssim_weight * DSSIM on the face hull
    eyes_mouth_weight: float = 2.0  # eyes and mouth count 1 + this in the MAE
    edge_weight: float = 1.0  # ... + edge_weight * L1 of image gradients (against blur; losses.masked_edges)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # warp and jitter strengths
    expressions: float = 0.0  # a share of each face set added again with other lid and mouth positions (face.expression); 0 = off
    # the detail stage (swaplab.model.detail): after the autoencoder, each person's net learns to draw their face at
    # detail_size from the decoder's face, from their own face set at full size
    detail_size: int | None = None  # px: 2x or 4x the model's size; None = 4x (or 2x) as far as the face sets hold; 0 = off
    detail_share: float = 0.25  # share of TIME_BUDGET_MIN for the detail stage (all of it once the autoencoder is done)
    detail_steps: int | None = None  # the detail stage's steps in total, counting resumed ones; None: STEPS x DETAIL_SHARE / (1 - DETAIL_SHARE)
    detail_pairs: str = "reconstructions"  # its inputs: the decoder's "reconstructions" of the faces, "degraded", "both", "warped"
    detail_exemplars: bool = True  # give it the fine detail of the person's own crops nearest in expression (kept in the run)

    def __post_init__(self):
        self.pretrain_people = tuple(self.pretrain_people or ())  # a notebook gives a list

    def validate(self, faces: bool = True) -> "TrainConfig":
        """Check every field, then the run folder, and with ``faces`` every face set (``checks.check``); returns self.
        ``train`` calls it too, with ``faces=False`` when it is given the faces in memory."""
        from swaplab.train import checks

        checks.check(self, faces)
        return self

    @property
    def people(self) -> tuple[str, ...]:
        """Whose face sets this run reads: PERSON_A and PERSON_B, or in pretrain mode PRETRAIN_PEOPLE."""
        return self.pretrain_people or (self.person_a, self.person_b)

    @property
    def image_size(self) -> int:
        return MODELS[self.model].image_size

    @property
    def run_dir(self) -> Path:
        return paths.run_dir(self.weights_dir, self.project, self.run)

    @property
    def source_dir(self) -> Path | None:
        """The INIT_FROM run's folder (None without INIT_FROM)."""
        return paths.source_run_dir(self.weights_dir, self.project, self.init_from) if self.init_from else None

    def to_json(self) -> dict:
        from swaplab.train.checks import detail_spec

        return {**asdict(self), "image_size": self.image_size, **({"detail_spec": asdict(detail_spec(self))} if self.detail_size else {})}

