"""subspace/cifar10, cifar10deep, cifar10ddpmppdeep: the paper's CIFAR-10 experiments (paper tier: GPU,
downloads; dry-run here), one per full model: NCSN++ (VE), NCSN++ deep (VE), DDPM++ deep (sub-VP). One module, the
model and its SDE from the config.

- `sde: ve` (NCSN++): data in [0, 1], σ-conditioned nets that return the score. `sde: subvp` (DDPM++): data centred
  to [−1, 1] (`centered: true` in the full model's config), nets take 999 t and return ε-style outputs (score
  = −output/std), run under the VE-coordinate samplers as scores of x/α_t (`repro.diffusion.sde.sigma_score`).
  Centred data double σ⊥ (it is measured on the centred images), and the subspace models' data (2·down^k(x) − 1)
  sit 2^k − 1 above the projection of the centred data (VE coordinates): subtracted before the lift, added in the
  implicit score (sheet §2.5). Training: score_sde's continuous sub-VP loss with reduce_mean (`_subvp_loss`).
  Sampler deviation recorded: score_sde's sub-VP config samples with Euler–Maruyama and no corrector; here the
  reverse-diffusion predictor in VE coordinates (the same SDE, another discretisation) with `n_corrector: 0`.
- `bpd_n` > 0 (sample stage): bits/dim of `bpd_n` uniformly dequantised test images by the probability-flow ODE
  (`repro.diffusion.likelihood`) for the full model and, per subspace arm whose cut rule is in `bpd_rules`, for the
  subspace model's implicit full-space score above the cut (Eq. 11) and the full model below it.
- `fid_stats` (under the data root, e.g. score_sde's `cifar10_stats.npz`): the FID reference instead of the train
  split's features.

- train: subspace NCSN++ models at 16×16 and 8×8 (score_sde's continuous VE training on 2·AvgPool-downsampled
  images, values in [0, 2^k], random flips, same σ_min/σ_max, the `training:` section), unless an official subspace
  checkpoint is configured; at the smoke tier also a tiny full-space NCSN++ (the paper tier loads the official
  score_sde checkpoint). `full_model` / `subspace_models.<size>`: the NCSN++ `config` and an optional `checkpoint`.
- sample: σ⊥ on the training set, orthogonal Fisher divergence of the full model on `n_div_samples` training images at
  21 times, cut-off times by the paper's rule (compared with the notebook's values in claims.yaml), then 50,000 samples
  from the full PC sampler and from the subspace sampler at each cut-off, same N = 1000 on one grid, measured
  wall time and evaluated dimensions.
- evaluate: IS / FID (torch-fidelity, TF Inception, CIFAR-10 train reference) of each arm, runtime saving, and the
  RMSD table on CIFAR-10 (downsampling vs PCA, `rmsd_pca`) against Table 1. With the synthetic smoke stand-in
  (`dataset: synthetic`, `n_synthetic` images): raw-pixel sliced W2 instead of IS/FID (plumbing only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from papers.subspace import images
from papers.subspace.method import Score, cut_score, implicit_score, split_steps
from papers.subspace.operators import down
from papers.subspace.sampler import div_rule
from repro.config import read_from
from repro.data.augment import image_transform
from repro.data.batches import TensorBatches
from repro.diffusion.losses import ve_dsm_loss
from repro.diffusion.sde import SDE, VESDE, SubVPSDE, time_score
from repro.metrics.distances import mean_stderr
from repro.run import MetricRow, Run
from repro.work import Net, Work, batches, image_inputs, sigmas

SIZE = 32


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """An NCSN++ model: its architecture `config` (image_size set per level) and an official checkpoint, if any."""

    config: dict[str, Any]
    checkpoint: str | None = None
    release: str | None = read_from("sample", None)  # named only when loading the checkpoint, to sample


@dataclass(frozen=True, kw_only=True)
class Config(images.ImageConfig):
    full_model: ModelSpec
    subspace_models: dict[str, ModelSpec]
    protocol_n: int = read_from("evaluate")
    rmsd_pca: bool = read_from("evaluate")
    n_synthetic: int | None = None
    sde: str = "ve"  # ve (NCSN++) | subvp (DDPM++; beta_min, beta_max)
    beta_min: float = 0.1
    beta_max: float = 20.0
    bpd_n: int = read_from("sample", 0)  # test images for bits/dim (0: none)
    bpd_rules: tuple[str, ...] = read_from("sample", ())  # subspace arms (cut rules) whose bits/dim are measured
    hutchinson: str = read_from("sample", "rademacher")
    bpd_tol: float = read_from("sample", 1e-5)  # rtol = atol of the likelihood ODE (score_sde: 1e-5)
    fid_stats: str | None = read_from("evaluate", None)  # under the data root; None: the train split's features

    def __post_init__(self) -> None:
        """Every rule in `bpd_rules` names arms this config makes: a misspelt threshold would otherwise measure
        the full model's bits/dim only, silently."""
        rules = {div_rule(t) for t in self.thresholds} | ({"fixed"} if self.fixed_cut_times else set())
        unknown = [r for r in self.bpd_rules if r not in rules]
        if unknown:
            raise ValueError(f"bpd_rules: {unknown} name no arm rule of this config (its rules: {sorted(rules)})")


def _images(run: Run, split: str = "train") -> torch.Tensor:
    cfg: Config = run.cfg
    if cfg.dataset == "synthetic":
        from repro.data.synthetic import synthetic_like

        return synthetic_like("cifar10", cfg.n_synthetic, run.seed + (split != "train")).images
    from repro.data.load import load_dataset

    return load_dataset("cifar10", run.data_root, split).images


def _sde(cfg: Config) -> SDE:
    return VESDE(cfg.sigma_min, cfg.sigma_max) if cfg.sde == "ve" else SubVPSDE(cfg.beta_min, cfg.beta_max)


def _centred(cfg: Config) -> bool:
    """Whether the models take data centred to [−1, 1] (score_sde's `data.centered`, in the full model's config)."""
    return bool(cfg.full_model.config.get("centered", False))


def _offset(cfg: Config, level: int) -> float:
    """The subspace model's data minus the projection of the full model's data at `level` (VE coordinates)."""
    return float(2**level - 1) if _centred(cfg) else 0.0


def _data(cfg: Config, x: torch.Tensor, level: int = 0) -> torch.Tensor:
    """down^level of [0, 1] images, in the models' data coordinates (centred: 2·down^level(x) − 1)."""
    y = down(x, level)
    return 2 * y - 1 if _centred(cfg) else y


def _subvp_loss(sde: SubVPSDE, eps: float):
    """score_sde's continuous sub-VP objective with reduce_mean (DDPM++ configs): t ~ U(eps, 1),
    x_t = α_t x + std_t z, per sample the mean over dimensions of (std_t·score + z)² = (z − output)², batch mean."""
    from repro.nets.score_sde_score import vp_labels

    def loss(model, batch) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        t = eps + (1 - eps) * torch.rand(x.shape[0], device=x.device, dtype=x.dtype)
        mean, std = sde.marginal_prob(x, t)
        z = torch.randn_like(x)
        out = model(mean + std.view(-1, 1, 1, 1) * z, vp_labels(t))
        return (z - out).square().flatten(1).mean(1).mean()

    return loss


def _model_spec(cfg: Config, level: int) -> ModelSpec:
    return cfg.full_model if level == 0 else cfg.subspace_models[images.level_name(SIZE, level)]


def _ncsnpp(spec: ModelSpec, level: int) -> torch.nn.Module:
    from repro.nets.ncsnpp import config_from_dict, ncsnpp

    return ncsnpp(config_from_dict({**spec.config, "image_size": SIZE >> level}))


def train(run: Run) -> None:
    """Train every model whose spec has no official checkpoint, on down^level of the (flipped) training images."""
    from repro.train import TrainConfig
    from repro.train import train as fit

    cfg: Config = run.cfg
    x = _images(run)
    for level in [0, *cfg.levels]:
        spec = _model_spec(cfg, level)
        name = f"score_{images.level_name(SIZE, level)}"
        if spec.checkpoint is not None:
            run.log(f"{name}: official checkpoint {spec.checkpoint} is used, nothing to train")
            continue
        training = TrainConfig.from_config(cfg.training, name)
        torch.manual_seed(run.seed + level)
        batches = TensorBatches(
            _data(cfg, x, level),
            training.batch_size,
            seed=run.seed + level,
            transform=image_transform(dequant=False, flip=True),
        )
        sde = _sde(cfg)
        loss = ve_dsm_loss(sde, cfg.eps) if isinstance(sde, VESDE) else _subvp_loss(sde, cfg.eps)
        fit(run, _ncsnpp(spec, level), loss, batches, training)
        run.log(f"trained {name}")


def _load(run: Run, level: int) -> torch.nn.Module:
    from repro.nets.score_sde_checkpoint import load_score_sde_checkpoint
    from repro.train import load_trained

    spec = _model_spec(run.cfg, level)
    model = _ncsnpp(spec, level)
    if spec.checkpoint is None:
        return load_trained(run, model, f"score_{images.level_name(SIZE, level)}")
    path = Path(run.data_root) / spec.checkpoint
    if not path.is_file() and run.rehearsal:  # the rehearsal's data root: random weights in the release's layout
        from repro.check import write_score_sde_stand_in

        write_score_sde_stand_in(model, path)
        run.log(f"rehearsal: {spec.checkpoint} is absent; random weights written in its layout at {path}")
    if not path.is_file():
        raise FileNotFoundError(
            f"{run.paper}/{run.experiment}: checkpoint {spec.checkpoint!r} -> {path} does "
            f"not exist; download it ({spec.release or 'see papers/subspace2022.md §5'})"
        )
    load_score_sde_checkpoint(model, path, "ema")
    return model.to(run.device).eval()


def _score(cfg: Config, net: torch.nn.Module) -> Score:
    """A net as the samplers' score s(y, σ) of y = x/α at noise level σ."""
    if cfg.sde == "ve":
        return lambda v, sigma: net(v, sigma)
    from repro.diffusion.sde import sigma_score
    from repro.nets.score_sde_score import vp_continuous_score

    return sigma_score(_sde(cfg), vp_continuous_score(net, _sde(cfg)))


def sample(run: Run) -> None:
    cfg: Config = run.cfg
    x = _data(cfg, _images(run)).to(run.device)
    scores = {level: _score(cfg, _load(run, level)) for level in [0, *cfg.levels]}
    offsets = {level: _offset(cfg, level) for level in cfg.levels}
    to_images = (lambda v: (v + 1) / 2) if _centred(cfg) else (lambda v: v)
    div, arms = images.sample_stage(
        run,
        scores,
        x,
        lambda v: to_images(v).clamp(0, 1),
        sde=None if cfg.sde == "ve" else _sde(cfg),
        offsets=offsets,
    )
    if cfg.bpd_n:
        run.save_json("bpd.json", _bits_per_dim(run, scores, div, arms))


@torch.no_grad()
def _bits_per_dim(run: Run, scores: dict[int, Score], div: dict, arms: list[dict]) -> list[dict]:
    """Bits/dim of the first `bpd_n` test images (dequantised with the run's seed) for the full model and every
    subspace arm whose rule is in `bpd_rules`, per image, in batches of `batch_size`."""
    from repro.diffusion.likelihood import bits_per_dim, dequantize, ode_log_likelihood
    from repro.sampling import to_uint8

    cfg: Config = run.cfg
    sde = _sde(cfg)
    pixels = to_uint8(_images(run, "test")[: cfg.bpd_n])  # [N, H, W, C]
    data = dequantize(pixels, torch.Generator().manual_seed(run.seed)).permute(0, 3, 1, 2).float()
    data = (2 * data - 1 if _centred(cfg) else data).to(run.device)
    chosen = [a for a in arms if a["level"] == 0 or a["rule"] in cfg.bpd_rules]
    for rule in sorted(set(cfg.bpd_rules) - {a["rule"] for a in chosen}):
        run.log(f"bits/dim: no arm of rule {rule} (its cuts leave no subspace step or repeat another arm's)")
    out = []
    for arm in chosen:
        score = scores[0]
        if arm["level"]:
            level, name = arm["level"], images.level_name(SIZE, arm["level"])
            implicit = implicit_score(scores[level], level, div["sigma_perp"][name], _offset(cfg, level))
            score = cut_score(scores[0], implicit, float(sde.sigma(arm["cut_time"])))
        values, nfe = [], []
        for i in range(0, len(data), cfg.batch_size):
            gen = torch.Generator().manual_seed(run.seed * 1000 + i)
            lik = ode_log_likelihood(
                sde,
                time_score(sde, score),
                data[i : i + cfg.batch_size],
                hutchinson=cfg.hutchinson,
                eps=cfg.eps,
                rtol=cfg.bpd_tol,
                atol=cfg.bpd_tol,
                generator=gen,
            )
            values += bits_per_dim(lik.log_prob, data[0].numel(), _centred(cfg)).tolist()
            nfe.append(lik.nfe)
        out.append({**arm, "bpd": values, "nfe": float(np.mean(nfe))})
        run.log(f"{arm['name']}: {np.mean(values):.4f} bits/dim ({np.mean(nfe):.0f} NFE per batch)")
    return out


def _bpd_rows(run: Run) -> list[MetricRow]:
    """The bits/dim rows (mean over test images, stderr over images) and the mean NFE of the ODE solves."""
    cfg: Config = run.cfg
    if not cfg.bpd_n:
        return []
    rows = []
    for arm in run.load_json("bpd.json"):
        setting = {
            "sampler": "full" if arm["level"] == 0 else "subspace",
            "subspace": images.level_name(SIZE, arm["level"]),
            "cut_rule": arm["rule"],
            "cut_time": "" if arm["cut_time"] is None else round(arm["cut_time"], 4),
            "hutchinson": cfg.hutchinson,
        }
        common = {"dataset": cfg.dataset, "setting": setting, "n_samples": len(arm["bpd"]), "seed": run.seed}
        value, stderr = mean_stderr(arm["bpd"])
        rows += [
            MetricRow(metric="bpd", value=value, stderr=stderr, unit="bits/dim", **common),
            MetricRow(metric="bpd_nfe", value=arm["nfe"], unit="evaluations per batch", **common),
        ]
    return rows


def _pixel_sw2(run: Run, x: torch.Tensor) -> images.Quality:
    """Raw-pixel sliced W2 against `x`: the plumbing-only quality of the synthetic stand-in."""
    from repro.metrics.distances import sliced_wasserstein2

    ref = x.flatten(1).numpy()

    def quality(samples: np.ndarray) -> dict[str, tuple[float, float | None]]:
        flat = torch.from_numpy(samples).permute(0, 3, 1, 2).float().div(255).flatten(1).numpy()
        return {"pixel_sw2": (sliced_wasserstein2(flat, ref, 64, seed=run.seed), None)}

    return quality


def _fidelity(run: Run, stand_in: torch.Tensor | None = None) -> tuple[images.Quality, dict[str, str]]:
    """IS and FID (torch-fidelity, TF Inception) against the CIFAR-10 train split, a statistics file (`fid_stats`,
    then named in the protocol returned beside the metric) or, in a rehearsal without CIFAR-10, the synthetic
    stand-in `stand_in` (under its own cache name)."""
    from repro.metrics.fidelity import Reference, dataset_reference, fidelity_metrics
    from repro.sampling import to_uint8

    cfg: Config = run.cfg
    protocol: dict[str, str] = {}
    if stand_in is not None:
        ref = to_uint8(stand_in).numpy()
        reference = Reference("synthetic-cifar10", "train", len(ref), lambda: ref)
    elif cfg.fid_stats:
        from repro.metrics.fid_stats import load_fid_stats

        reference = load_fid_stats(Path(run.data_root) / cfg.fid_stats, dim=2048)
        protocol = {"reference": reference.name}
    else:
        reference = dataset_reference("cifar10", "train", run.data_root)

    def quality(samples: np.ndarray) -> dict[str, tuple[float, float | None]]:
        out = fidelity_metrics(
            samples,
            reference,
            protocol_n=cfg.protocol_n,
            cache_root=run.data_root / "fidelity_cache",
            data_root=run.data_root,
            metrics=("isc", "fid"),
        )
        return {r["metric"]: (r["value"], r["stderr"]) for r in out}

    return quality, protocol


def evaluate(run: Run) -> None:
    from repro.metrics.fidelity import metric_name

    cfg: Config = run.cfg
    x = _images(run)
    synthetic = cfg.dataset == "synthetic"
    protocol: dict[str, str] = {}
    if synthetic and run.rehearsal:  # the rehearsal takes the real metric path on the stand-in
        quality, protocol = _fidelity(run, stand_in=x)
        metric, title = metric_name("fid", cfg.n_samples, cfg.protocol_n), "synthetic CIFAR-10 stand-in"
    elif synthetic:
        quality, metric, title = _pixel_sw2(run, x), "pixel_sw2", "synthetic CIFAR-10 stand-in"
    else:
        (quality, protocol), metric, title = (
            _fidelity(run),
            metric_name("fid", cfg.n_samples, cfg.protocol_n),
            "CIFAR-10",
        )
    images.evaluate_stage(
        run,
        x,
        quality,
        metric,
        title,
        extra_rows=_bpd_rows(run),
        pca=cfg.rmsd_pca,
        synthetic_data=synthetic,
        protocol=protocol,
    )


# ------------------------------------------------------------------------------------------------ declared GPU work
# Two counts are not set by the config and are assumed here (see `work`):
DIV_CUT = 0.5  # cut-off time of a divergence-rule arm (measured in the sample stage; the README's example t₁)
BPD_NFE = 150  # probability-flow ODE evaluations per likelihood solve (adaptive RK45 at rtol = atol = 1e-5)


def _net(cfg: Config, level: int) -> Net:
    """The model at `level` as the stages call it: net(x, σ) with σ in [σ_min, σ_max] (VE), net(x, 999 t) with
    t in [eps, 1] (sub-VP). Named by its size and its overrides of score_sde's CIFAR-10 NCSN++ config."""
    from repro.nets.ncsnpp import config_from_dict
    from repro.nets.score_sde_score import VP_LABEL_SCALE

    spec = _model_spec(cfg, level)
    arch = config_from_dict({**spec.config, "image_size": SIZE >> level})
    shape = (arch.channels, arch.image_size, arch.image_size)
    overrides = ", ".join(f"{k}={v}" for k, v in sorted(spec.config.items()))
    name = f"NCSN++ {'x'.join(map(str, shape))}" + (f" ({overrides})" if overrides else "")
    if cfg.sde == "ve":
        cond = sigmas(cfg.sigma_min, cfg.sigma_max)
    else:
        cond = sigmas(VP_LABEL_SCALE * cfg.eps, VP_LABEL_SCALE)
    return Net(name, lambda: _ncsnpp(spec, level), image_inputs(shape, cond))


def _arm_cuts(cfg: Config) -> list[tuple[str, float]]:
    """(rule, cut time) of each level's subspace arms as `images.sampling_arms` lists them, the divergence rules at
    the assumed `DIV_CUT` (all kept: the stage drops an arm whose n_sub repeats, which distinct cuts never do)."""
    return [(div_rule(thr), DIV_CUT) for thr in cfg.thresholds] + [("fixed", t) for t in cfg.fixed_cut_times]


def _arm_calls(cfg: Config, n_sub: int) -> tuple[int, int]:
    """(subspace-model, full-model) calls per batch of a subspace arm (`subspace_sample`): PC steps of 1 + n_corrector
    calls each, plus the boundary's conditional Langevin steps when a full-space stage follows."""
    rest = cfg.n_steps - n_sub
    return n_sub * (1 + cfg.n_corrector), rest * (1 + cfg.n_corrector) + (cfg.boundary_steps if rest else 0)


def work(cfg: Config) -> list[Work]:
    """The GPU work of the three stages at `cfg`.

    train: every model without an official checkpoint, `training.steps` at `training.batch_size`. sample: the
    orthogonal Fisher divergence (the full model on `n_div_samples` images at `n_times` times, once per level: plain
    forwards, no gradients), the full PC sampler (N (1 + n_corrector) calls per batch), every subspace arm
    (`_arm_calls`) and, with `bpd_n`, the likelihood ODE of the full model and of the subspace arms in `bpd_rules`
    (each evaluation a forward and a vector-Jacobian product, i.e. a backward too). evaluate: each arm's samples
    through Inception (IS and FID from one pass, torch-fidelity's batch), plus the train split when no `fid_stats`
    file is given (the synthetic stand-in: its images, as the rehearsal measures it; a plain smoke run uses no
    Inception at all).

    Assumed, not set by the config: the divergence rules' cut times (`DIV_CUT`; the notebook's lie in 0.26–0.69) and
    so each arm's split between the two models and the arm count (the stage drops repeated n_sub and cuts at t = 1);
    the ODE's evaluations per solve (`BPD_NFE`), split between the two models of a subspace arm in proportion to
    time. Left out: data loading, the losses' and samplers' own arithmetic, σ⊥ and the RMSD/PCA table (CPU-sized
    tensor work), checkpoint loading.
    """
    from repro.metrics.fidelity import DATASET_SIZES, FEATURE_BATCH
    from repro.train import TrainConfig

    full = _net(cfg, 0)
    out = []
    for level in [0, *cfg.levels]:
        name = f"score_{images.level_name(SIZE, level)}"
        if _model_spec(cfg, level).checkpoint is None:
            training = TrainConfig.from_config(cfg.training, name)
            what = f"{name}: continuous {cfg.sde} score matching, {training.steps} steps"
            out.append(Work("train", what, "train", training.steps, training.batch_size, _net(cfg, level)))

    n_div = cfg.n_div_samples
    div_calls = len(cfg.levels) * cfg.n_times * batches(n_div, cfg.batch_size)
    what = f"orthogonal Fisher divergence, {len(cfg.levels)} levels x {cfg.n_times} times, {n_div} images"
    out.append(Work("sample", what, "forward", div_calls, min(cfg.batch_size, n_div), full))
    n = cfg.n_samples * cfg.sample_seeds
    n_batches, batch = batches(n, cfg.batch_size), min(cfg.batch_size, n)
    pc = f"PC N = {cfg.n_steps} x {1 + cfg.n_corrector}"
    what = f"full {pc}, {n} samples"
    out.append(Work("sample", what, "forward", n_batches * cfg.n_steps * (1 + cfg.n_corrector), batch, full))
    splits = [split_steps(cfg.n_steps, t)[0] for _, t in _arm_cuts(cfg)]
    calls = [_arm_calls(cfg, n_sub) for n_sub in splits if n_sub >= 1]  # per arm of one level
    sub_calls, full_calls = n_batches * sum(s for s, _ in calls), n_batches * sum(f for _, f in calls)
    n_arms = 1 + len(cfg.levels) * len(calls)
    for level in cfg.levels:
        arms = f"{images.level_name(SIZE, level)} subspace arms ({len(calls)} cuts, {pc}), {n} samples each"
        out += [
            Work("sample", f"{arms}: subspace stage", "forward", sub_calls, batch, _net(cfg, level)),
            Work("sample", f"{arms}: boundary Langevin + full stage", "forward", full_calls, batch, full),
        ]

    if cfg.bpd_n:
        solves, batch = batches(cfg.bpd_n, cfg.batch_size), min(cfg.batch_size, cfg.bpd_n)
        calls = solves * BPD_NFE
        ode = f"{cfg.bpd_n} test images, ~{BPD_NFE} ODE evaluations per solve, each also a backward"
        out.append(Work("sample", f"bits/dim, full model: {ode}", "forward", calls, batch, full))
        for level in cfg.levels:
            for rule, t in _arm_cuts(cfg):
                if rule not in cfg.bpd_rules or split_steps(cfg.n_steps, t)[0] < 1:
                    continue
                above = round(calls * (1 - t))
                what = f"bits/dim, {images.level_name(SIZE, level)} {rule} at t = {t:g}: {ode}"
                out += [
                    Work("sample", f"{what} (above the cut)", "forward", above, batch, _net(cfg, level)),
                    Work("sample", f"{what} (below the cut)", "forward", calls - above, batch, full),
                ]

    feature_batch = FEATURE_BATCH  # `_fidelity` keeps it
    out.append(Work("evaluate", f"IS/FID of {n_arms} arms x {n} samples", "inception", n_arms * n, feature_batch))
    if cfg.fid_stats is None:
        synthetic = cfg.dataset == "synthetic"
        ref = cfg.n_synthetic if synthetic else DATASET_SIZES[("cifar10", "train")]
        what = f"FID reference: {ref} {'synthetic stand-in' if synthetic else 'CIFAR-10 train'} images"
        out.append(Work("evaluate", what, "inception", ref, feature_batch))
    return out
