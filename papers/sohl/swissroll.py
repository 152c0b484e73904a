"""Swiss roll (App. D.1.1): Gaussian diffusion, T = 40, normalised-RBF (16 units) and MLP reverse models.

Generator (the paper's is unspecified): the (x, z) plane of scikit-learn's Swiss roll curve, angle uniform on
[1.5 pi, 4.5 pi], isotropic Gaussian noise of std `noise` in raw units, then one global scale to unit variance.
Trains every (net, schedule) pair at the main noise level, and the RBF with a learned schedule at each level of
`noise_sweep` to show how K depends on the generator's noise.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from papers.sohl import common, data  # noqa: E402
from papers.sohl.gaussian import GaussianDiffusion  # noqa: E402
from repro.run import Run  # noqa: E402
from repro.train import load_trained  # noqa: E402


def variants(cfg: dict) -> list[dict]:
    """Every model to train: the main (net x schedule) grid, then the RBF/learned noise sweep."""
    out = [{"net": n, "schedule": s, "noise": cfg["noise"]} for n in cfg["nets"] for s in cfg["schedules"]]
    out += [{"net": "rbf", "schedule": "learned", "noise": z} for z in cfg["noise_sweep"] if z != cfg["noise"]]
    return out


def name(v: dict) -> str:
    return f"{v['net']}_{v['schedule']}_noise{v['noise']:g}"


def splits(cfg: dict, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, data.UnitScale]:
    train = data.swiss_roll(cfg["n_train"], torch.Generator().manual_seed(seed * 1000), noise)
    test = data.swiss_roll(cfg["n_test"], torch.Generator().manual_seed(seed * 1000 + 1), noise)
    scale = data.UnitScale(train)
    return scale(train), scale(test), scale


def build(cfg: dict, v: dict, x_train: torch.Tensor, seed: int) -> GaussianDiffusion:
    return common.gaussian_vector_model(
        {**cfg, "net": v["net"], "learned_beta": v["schedule"] == "learned"}, x_train, seed
    )


def train(run: Run) -> None:
    for v in variants(run.cfg):
        x_train, _, _ = splits(run.cfg, v["noise"], run.seed)
        common.fit(run, build(run.cfg, v, x_train, run.seed), x_train, run.cfg, name=name(v))


def evaluate(run: Run) -> None:
    cfg = run.cfg
    rows, sweep, models = [], [], {}
    for v in variants(cfg):
        x_train, x_test, _ = splits(cfg, v["noise"], run.seed)
        model = load_trained(run, build(cfg, v, x_train, run.seed), name(v))
        k = common.per_example_bound(model, x_test.to(run.device), cfg["eval_batch"], run.seed)
        new = common.bound_rows(k, common.gaussian_null(x_test), 1.0, "bits", "swissroll", v, run.seed)
        rows += new
        if v["net"] == "rbf" and v["schedule"] == "learned":
            sweep.append((v["noise"], new[0]["value"], new[0]["stderr"]))
        models[name(v)] = (model, x_test)
        run.log(f"{name(v)}: K = {new[0]['value']:.3f} +- {new[0]['stderr']:.3f} bits")
    run.save_metrics(rows)
    main = {"net": "rbf", "schedule": cfg["schedules"][0], "noise": cfg["noise"]}
    trajectory_figure(run, *models[name(main)], name(main))
    sweep_figure(run, sorted(sweep))


@torch.no_grad()
def trajectory_figure(run: Run, model: GaussianDiffusion, x_test: torch.Tensor, label: str) -> None:
    """Fig. 1 analogue: forward diffusion of data (top) and reverse diffusion of samples (bottom) at t = 0, T/2, T."""
    T = model.T
    torch.manual_seed(run.seed + 2)
    n = min(len(x_test), run.cfg["n_samples"])
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
