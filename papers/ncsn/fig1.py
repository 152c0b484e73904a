"""ncsn/fig1*: Fig. 1, sliced score matching is unstable on raw images and stable once they are slightly perturbed.

The paper trains a ResNet auto-encoder score net by variance-reduced sliced score matching (one projection) on
raw CIFAR-10 and on CIFAR-10 + N(0, 1e-4 I), and shows the loss curves: on raw data the loss falls, then
fluctuates irregularly; on perturbed data it converges. Raw 8-bit images sit on a thin set (on the digits, whole
border pixels are exactly 0), where the score is undefined and the SSM loss is unbounded below.

Arms: `raw` and `perturbed` (x + `noise_std` z with fresh z every step, as the official `ScoreNetRunner`; 0.01 is
the paper's variance 1e-4). For every seed both arms start from the same weights, see the same batches and draw the
same projections (the perturbation comes from the batch's own generator, not the global RNG), so the only
difference is the perturbation. Images in [0, 1], no dequantisation (official), resized to `image_size` (the
official runner's `Resize`: its commented MNIST setting is 16; CIFAR-10 stays 32); the net maps x to 2x - 1.

Net (`ResScore`, the official `models/scorenet.py` design): a 3x3 conv to `nef` channels, five residual blocks
(nef, 2 nef down, 2 nef, 4 nef down, 4 nef; GroupNorm(8), ELU), a mirrored decoder of transposed-conv residual
blocks and a 3x3 conv back to the image channels.

Number: per seed and arm, the loss's coefficient of variation (std / |mean| of the per-step training loss) over
the final `tail_frac` of the steps: small when the loss has settled, large when it keeps falling or jumping. Rows:
each arm's mean over seeds, the paired difference raw - perturbed (mean, stderr over seeds, `repro.metrics.sanity`)
and that in stderr units (`_z`); `nonfinite_stop` is the fraction of seeds whose training stopped on a non-finite
loss (`repro.train` stops there; the tail is then the final `tail_frac` of the steps that ran). Figure: the loss
curves of the first seed, raw left, perturbed right (the paper's panels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from papers.ncsn.images import seed_runs
from repro.config import ExperimentConfig, read_from
from repro.run import MetricRow, Run
from repro.work import Net, Work, image_inputs

ARMS = ("raw", "perturbed")
METRIC = "ssm_loss_tail_cv"


@dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    dataset: str
    synthetic_n: int  # > 0: a deterministic stand-in of that many images (smoke, rehearsal without data)
    image_size: int
    seeds: int
    nef: int
    noise_std: float
    training: dict[str, Any]
    tail_frac: float = read_from("evaluate")


class ResBlock(nn.Module):
    """conv-GN-ELU-conv-GN plus a skip (identity, or a strided conv when resizing), then ELU.

    Encoder blocks halve the size with a stride-2 first conv; decoder blocks (`transposed`) double it with a
    stride-2 transposed second conv.
    """

    def __init__(self, c_in: int, c_out: int, resize: bool, transposed: bool) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        up = {"stride": 2, "padding": 1, "output_padding": 1}
        first = {"stride": 2 if resize and not transposed else 1, "padding": 1}
        second = up if resize and transposed else {"stride": 1, "padding": 1}
        self.main = nn.Sequential(
            conv(c_in, c_out, 3, **first),
            nn.GroupNorm(8, c_out),
            nn.ELU(),
            conv(c_out, c_out, 3, **second),
            nn.GroupNorm(8, c_out),
        )
        if resize:
            self.skip: nn.Module = conv(c_in, c_out, 3, **(up if transposed else {"stride": 2, "padding": 1}))
        elif c_in == c_out:
            self.skip = nn.Identity()
        else:
            raise ValueError(f"a block that keeps the size must keep the channels, got {c_in} -> {c_out}")
        self.act = nn.ELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.main(x) + self.skip(x))


class ResScore(nn.Module):
    """The score net of Fig. 1: x in [0, 1] (N, C, H, W) -> score of the same shape (H, W divisible by 4)."""

    def __init__(self, channels: int, nef: int) -> None:
        super().__init__()
        if nef % 8:
            raise ValueError(f"nef must be a multiple of 8 (GroupNorm with 8 groups), got {nef}")
        e = (nef, 2 * nef, 4 * nef)
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, e[0], 3, padding=1),
            ResBlock(e[0], e[0], False, False),
            ResBlock(e[0], e[1], True, False),
            ResBlock(e[1], e[1], False, False),
            ResBlock(e[1], e[2], True, False),
            ResBlock(e[2], e[2], False, False),
        )
        self.decoder = nn.Sequential(
            ResBlock(e[2], e[2], False, True),
            ResBlock(e[2], e[1], True, True),
            ResBlock(e[1], e[1], False, True),
            ResBlock(e[1], e[0], True, True),
            ResBlock(e[0], e[0], False, True),
            nn.Conv2d(e[0], channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(2 * x - 1))


def load_images(run: Run) -> torch.Tensor:
    """Training images in [0, 1] (N, C, size, size): the real split or the deterministic stand-in, resized."""
    cfg: Config = run.cfg
    if cfg.synthetic_n:
        from repro.data.synthetic import synthetic_like

        x = synthetic_like(cfg.dataset, cfg.synthetic_n, seed=run.seed).images
    else:
        from repro.data.load import load_dataset

        x = load_dataset(cfg.dataset, run.data_root, split="train").images
    return resize(x, cfg.image_size)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bilinear resize (as torchvision's `Resize` of a PIL image); unchanged at the native size."""
    if x.shape[-2:] == (size, size):
        return x
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


def net_name(arm: str, seed: int) -> str:
    return f"{arm}_seed{seed}"


def ssm_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Variance-reduced SSM (one projection) of an image score net, over flattened images."""
    from repro.diffusion.losses import sliced_score_matching_vr

    shape = x.shape[1:]
    return sliced_score_matching_vr(lambda v: model(v.view(-1, *shape)).flatten(1), x.flatten(1))


def perturb(noise_std: float):
    """A `TensorBatches` transform adding N(0, noise_std^2 I) from the batch's own generator."""

    def add(batch: tuple[torch.Tensor, ...], g: torch.Generator) -> tuple[torch.Tensor, ...]:
        (x,) = batch
        return (x + noise_std * torch.randn(x.shape, generator=g),)

    return add


def train_arm(run: Run, arm: str, images: torch.Tensor) -> None:
    """One SSM training; a run stopped by a non-finite loss is a measured outcome, recorded and not retried."""
    from repro.checkpoint import run_settings
    from repro.data.batches import TensorBatches
    from repro.train import NonFiniteLossError, TrainConfig, train

    cfg: Config = run.cfg
    name = net_name(arm, run.seed)
    marker, settings = run.path(f"{name}_stopped.json"), run_settings(cfg)
    if marker.exists():
        if run.load_json(marker.name)["settings"] == settings:
            return
        marker.unlink()  # a stop under other settings: train again
    steps = cfg.training["steps"]
    tc = TrainConfig.from_config(cfg.training, name, ckpt_every=steps, log_every=1)
    transform = perturb(cfg.noise_std) if arm == "perturbed" else None
    batches = TensorBatches(images, tc.batch_size, seed=run.seed, transform=transform)
    torch.manual_seed(run.seed)
    model = ResScore(images.shape[1], cfg.nef)
    try:
        train(run, model, ssm_loss, batches, tc)
    except NonFiniteLossError as err:
        run.log(f"{name}: {err}")
        run.save_json(marker.name, {"reason": str(err), "settings": settings})


def train(run: Run) -> None:
    images = load_images(run)
    for r in seed_runs(run):
        for arm in ARMS:
            train_arm(r, arm, images)


def loss_curve(run: Run, name: str) -> np.ndarray:
    """(steps, loss) of one training, one line per step (`log_every` 1)."""
    import json

    lines = run.path(f"train_{name}.jsonl").read_text().splitlines()
    rec = [json.loads(line) for line in lines if line]
    return np.array([[r["step"], r["loss"]] for r in rec], dtype=np.float64).reshape(-1, 2)


def tail_cv(loss: np.ndarray, tail_frac: float) -> float:
    """std / |mean| of the last `tail_frac` of a loss curve (at least two points)."""
    tail = loss[-max(2, int(round(tail_frac * len(loss)))) :]
    return float(np.std(tail) / abs(np.mean(tail)))


def evaluate(run: Run) -> None:
    from repro.metrics.distances import mean_stderr
    from repro.metrics.sanity import difference_rows, seed_label

    cfg: Config = run.cfg
    runs = seed_runs(run)
    seeds = [r.seed for r in runs]
    per_arm: dict[str, list[float]] = {arm: [] for arm in ARMS}
    stopped: dict[str, list[bool]] = {arm: [] for arm in ARMS}
    curves: dict[str, np.ndarray] = {}
    for r in runs:
        for arm in ARMS:
            name = net_name(arm, r.seed)
            curve = loss_curve(run, name)
            curves.setdefault(arm, curve)
            per_arm[arm].append(tail_cv(curve[:, 1], cfg.tail_frac))
            stopped[arm].append(run.path(f"{name}_stopped.json").exists())
            run.log(f"{name}: tail CV {per_arm[arm][-1]:.4g} over {len(curve)} steps, stopped {stopped[arm][-1]}")
    common = {"dataset": cfg.dataset, "n_samples": len(seeds), "seed": seed_label(seeds)}
    base = {"noise_std": cfg.noise_std, "steps": cfg.training["steps"], "tail_frac": cfg.tail_frac}
    rows = []
    for arm in ARMS:
        value, stderr = mean_stderr(per_arm[arm])
        setting = {"arm": arm, **base}
        rows.append(MetricRow(metric=METRIC, value=value, stderr=stderr, unit="ratio", setting=setting, **common))
        frac = float(np.mean(stopped[arm]))
        rows.append(MetricRow(metric="nonfinite_stop", value=frac, unit="fraction", setting=setting, **common))
    setting = {"difference": "raw_minus_perturbed", **base}
    rows += difference_rows(f"{METRIC}_diff", per_arm["raw"], per_arm["perturbed"], "ratio", setting=setting, **common)
    run.save_json("tail_cv_per_seed.json", {"seeds": seeds, **per_arm})
    run.save_metrics(rows, synthetic_data=cfg.synthetic_n > 0)
    _figure(run, curves, seeds[0])


def _figure(run: Run, curves: dict[str, np.ndarray], seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg: Config = run.cfg
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, arm in zip(axes, ARMS, strict=True):
        ax.plot(curves[arm][:, 0], curves[arm][:, 1], lw=0.6)
        ax.set_title(f"{arm}" + (f" + N(0, {cfg.noise_std**2:g} I)" if arm == "perturbed" else ""), fontsize=9)
        ax.set_xlabel("iteration")
    axes[0].set_ylabel("SSM loss")
    run.save_figure(
        fig,
        "ssm_loss",
        f"{cfg.dataset}: sliced score matching on raw vs perturbed images",
        f"Training loss per step, seed {seed}, ResScore nef {cfg.nef}; the last {cfg.tail_frac:g} of the steps "
        "gives the coefficient of variation in the rows.",
    )


def work(cfg: Config) -> list[Work]:
    """Both arms' SSM trainings, `seeds` each. An SSM step differentiates a Hessian-vector product (a double
    backward), dearer than the forward, backward and update a train unit prices: a lower bound. Left out: data
    loading and resizing, the perturbation, the per-step loss sync of `log_every` 1, checkpoint writes."""
    from repro.data.base import SHAPES

    shape = (SHAPES[cfg.dataset][0], cfg.image_size, cfg.image_size)
    net = Net(
        f"NCSN ResScore nef {cfg.nef} {'x'.join(map(str, shape))}",
        lambda: ResScore(shape[0], cfg.nef),
        image_inputs(shape),
    )
    steps, batch = cfg.training["steps"], cfg.training["batch_size"]
    what = "SSM-VR (1 projection, double backward) on {} images, {} seeds x {} steps"
    return [Work("train", what.format(arm, cfg.seeds, steps), "train", cfg.seeds * steps, batch, net) for arm in ARMS]
