"""Swiss roll (App. D.1.1): Gaussian diffusion, T = 40, normalised-RBF (16 units) and MLP reverse models.

Generator (the paper's is unspecified): the (x, z) plane of scikit-learn's Swiss roll curve, angle uniform on
[1.5 pi, 4.5 pi], isotropic Gaussian noise of std `noise` in raw units, then one global scale to unit variance.
Trains every (net, schedule) pair at the main noise level, and the RBF with a learned schedule at each level of
`noise_sweep` to show how K depends on the generator's noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from papers.sohl import common, data  # noqa: E402
from papers.sohl.gaussian import GaussianDiffusion, Schedule  # noqa: E402
from papers.sohl.nets import MLP, NormalisedRBF, VectorReverseNet  # noqa: E402
from repro.config import ExperimentConfig, read_from  # noqa: E402
from repro.run import Run  # noqa: E402
from repro.train import load_trained  # noqa: E402


@dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Gaussian diffusion on the 2-D Swiss roll; `nets` x `schedules` at `noise`, the RBF at each `noise_sweep`."""

    T: int
    beta1: float
    mean_param: str
    readout: str
    n_bumps: int = 10
    bump_axis: str = "linear"
    nets: tuple[str, ...]
    schedules: tuple[str, ...]
    noise: float
    noise_sweep: tuple[float, ...]
    rbf_units: int
    hidden: tuple[int, ...]
    activation: str
    n_train: int
    n_test: int  # `splits` draws the test split beside the training one, in the train stage too
    eval_batch: int = read_from("evaluate")
    n_samples: int = read_from("evaluate")
    training: dict[str, Any]  # the `training:` section, read by repro.train.TrainConfig.from_config


@dataclass(frozen=True)
class Variant:
    """One trained model: reverse-net body, beta schedule (learned or fixed) and the generator's noise."""

    net: str
    schedule: str
    noise: float

    @property
    def name(self) -> str:
        return f"{self.net}_{self.schedule}_noise{self.noise:g}"

    def setting(self) -> dict[str, Any]:
        return asdict(self)


def variants(cfg: Config) -> list[Variant]:
    """Every model to train: the main (net x schedule) grid, then the RBF/learned noise sweep."""
    out = [Variant(n, s, cfg.noise) for n in cfg.nets for s in cfg.schedules]
    out += [Variant("rbf", "learned", z) for z in cfg.noise_sweep if z != cfg.noise]
    return out


def splits(cfg: Config, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, data.UnitScale]:
    train = data.swiss_roll(cfg.n_train, torch.Generator().manual_seed(seed * 1000), noise)
    test = data.swiss_roll(cfg.n_test, torch.Generator().manual_seed(seed * 1000 + 1), noise)
    scale = data.UnitScale(train)
    return scale(train), scale(test), scale


def body(cfg: Config, net: str, x_train: torch.Tensor, gen: torch.Generator) -> nn.Module:
    """RBF (centres at random training points, width = RMS distance to the nearest other centre) or MLP body."""
    if net == "rbf":
        idx = torch.randperm(len(x_train), generator=gen)[: cfg.rbf_units]
        centres = x_train[idx]
        dist = torch.cdist(centres, centres) + torch.eye(len(centres)) * 1e9
        return NormalisedRBF(centres, float(dist.min(1).values.pow(2).mean().sqrt()))
    return MLP(x_train.shape[1], cfg.hidden, cfg.activation)


def build(cfg: Config, v: Variant, x_train: torch.Tensor, seed: int) -> GaussianDiffusion:
    gen = torch.Generator().manual_seed(seed)
    d = x_train.shape[1]
    net = VectorReverseNet(body(cfg, v.net, x_train, gen), d, cfg.T, 2, cfg.readout, cfg.n_bumps, cfg.bump_axis)
    return GaussianDiffusion(net, Schedule(cfg.T, cfg.beta1, v.schedule == "learned"), cfg.mean_param)


def train(run: Run) -> None:
    for v in variants(run.cfg):
        x_train, _, _ = splits(run.cfg, v.noise, run.seed)
        common.fit(run, build(run.cfg, v, x_train, run.seed), x_train, run.cfg.training, name=v.name)


def evaluate(run: Run) -> None:
    cfg = run.cfg
    rows, sweep, models = [], [], {}
    for v in variants(cfg):
        x_train, x_test, _ = splits(cfg, v.noise, run.seed)
        model = load_trained(run, build(cfg, v, x_train, run.seed), v.name)
        k = common.per_example_bound(run, model, x_test.to(run.device), cfg.eval_batch)
        new = common.bound_rows(k, common.gaussian_null(x_test), 1.0, "bits", "swissroll", v.setting(), run.seed)
        rows += new
        if v.net == "rbf" and v.schedule == "learned":
            sweep.append((v.noise, new[0].value, new[0].stderr))
        models[v.name] = (model, x_test)
        run.log(f"{v.name}: K = {common.plus_minus(new[0])} bits")
    run.save_metrics(rows)
    main = Variant("rbf", cfg.schedules[0], cfg.noise)
    trajectory_figure(run, *models[main.name], main.name)
    sweep_figure(run, sorted(sweep))


@torch.no_grad()
def trajectory_figure(run: Run, model: GaussianDiffusion, x_test: torch.Tensor, label: str) -> None:
    """Fig. 1 analogue: forward diffusion of data (top) and reverse diffusion of samples (bottom) at t = 0, T/2, T."""
    T = model.T
    torch.manual_seed(run.seed + 2)
    n = min(len(x_test), run.cfg.n_samples)
    x0 = x_test[:n].to(run.device)
    c = model.coefs()
    steps = (0, T // 2, T)
    fwd = [
        x0
        if s == 0
        else c["abar"][s - 1].sqrt().float() * x0 + (1 - c["abar"][s - 1]).sqrt().float() * torch.randn_like(x0)
        for s in steps
    ]
    x_T = torch.randn(n, 2, device=run.device)
    path = {T: x_T}
    for t, x in zip(range(T - 1, -1, -1), model.trajectory(x_T), strict=True):
        path[t] = x
    fig, axes = plt.subplots(2, 3, figsize=(9, 6), sharex=True, sharey=True)
    for j, s in enumerate(steps):
        for i, pts in enumerate((fwd[j], path[s])):
            axes[i, j].scatter(*pts.cpu().T, s=2, alpha=0.5)
            axes[i, j].set_title(f"{('forward q', 'reverse p')[i]}, t = {s}")
    axes[0, 0].set(xlim=(-2.5, 2.5), ylim=(-2.5, 2.5))
    run.save_figure(
        fig,
        "trajectories",
        "Swiss roll: forward and reverse trajectories",
        f"Model {label}. Top: held-out points diffused by q; bottom: samples of the learned reverse "
        "process started from N(0, I), as in the paper's Fig. 1.",
    )


def sweep_figure(run: Run, sweep: list[tuple[float, float, float]]) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    z, k, se = zip(*sweep, strict=True)
    ax.errorbar(z, k, yerr=[2 * s for s in se], marker="o", capsize=3)
    ax.set(
        xlabel="generator noise std (raw units)",
        ylabel="K (bits per point)",
        xscale="symlog",
        title="Swiss roll: bound vs generator noise",
    )
    ax.set_xscale("symlog", linthresh=min([v for v in z if v > 0], default=0.01))
    run.save_figure(
        fig,
        "noise_sweep",
        "Swiss roll: K vs generator noise",
        "RBF reverse model with learned beta; error bars are 2 standard errors over held-out points.",
    )
