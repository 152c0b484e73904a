"""The image experiments' models: the official score_sde NCSN++ VE checkpoint (paper tier) or a small stand-in
(smoke tier), and the level classifier (trained here, or the DMCMC release converted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from papers.dlg.classifier import SimpleCNN, SimpleCNN256, level_loss
from papers.dlg.convert import load_dmcmc_classifier
from papers.dlg.nets import TinyScoreNet
from repro.data.batches import TensorBatches
from repro.diffusion.losses import ve_dsm_loss
from repro.diffusion.sde import VESDE, dlg_level_grid
from repro.run import Run


def levels(cfg: dict[str, Any]) -> torch.Tensor:
    return dlg_level_grid(cfg["sigma_min"], cfg["sigma_max"], cfg["n_levels"]).float()


def _train_cfg(t: dict[str, Any], name: str):
    from repro.train import TrainConfig

    return TrainConfig(
        steps=t["steps"],
        lr=t["lr"],
        batch_size=t["batch_size"],
        ema_decay=t.get("ema_decay"),
        ckpt_every=max(1, t["steps"] // 10),
        name=name,
    )


def _classifier_net(cfg: dict[str, Any], shape: tuple[int, ...]) -> torch.nn.Module:
    if cfg["classifier"]["arch"] == "simplecnn256":
        return SimpleCNN256(cfg["n_levels"], channels=shape[0])
    return SimpleCNN(cfg["n_levels"], channels=shape[0], image_size=shape[-1])


def train_models(run: Run, x: torch.Tensor) -> None:
    """Train the level classifier (unless a DMCMC checkpoint is configured) and, for a stand-in, the score net."""
    from repro.train import train as fit

    cfg = run.cfg
    c = cfg["classifier"]
    if "checkpoint" not in c:
        torch.manual_seed(run.seed)
        fit(
            run,
            _classifier_net(cfg, tuple(x.shape[1:])),
            level_loss(levels(cfg)),
            TensorBatches(x, c["batch_size"], seed=run.seed),
            _train_cfg(c, "level_classifier"),
        )
    s = cfg["score_model"]
    if s["kind"] == "tiny":
        torch.manual_seed(run.seed)
        fit(
            run,
            TinyScoreNet(x.shape[1], s["width"]),
            ve_dsm_loss(VESDE(cfg["sigma_min"], cfg["sigma_max"])),
            TensorBatches(x, s["batch_size"], seed=run.seed + 1),
            _train_cfg(s, "score"),
        )


def load_classifier(run: Run, shape: tuple[int, ...]) -> torch.nn.Module:
    from repro.train import load_trained

    cfg = run.cfg
    c = cfg["classifier"]
    if "checkpoint" in c:
        arch = "celebahq" if c["arch"] == "simplecnn256" else "cifar10"
        return load_dmcmc_classifier(Path(run.data_root) / c["checkpoint"], arch).to(run.device)
    torch.manual_seed(run.seed)
    return load_trained(run, _classifier_net(cfg, shape), "level_classifier")


def load_score(run: Run, channels: int) -> torch.nn.Module:
    """The score network s(x, sigma) in [0, 1] data space (NCSN++ VE continuous returns the score itself)."""
    from repro.train import load_trained

    s = run.cfg["score_model"]
    if s["kind"] == "tiny":
        torch.manual_seed(run.seed)
        return load_trained(run, TinyScoreNet(channels, s["width"]), "score")
    from repro.nets.ncsnpp import config_from_dict, ncsnpp
    from repro.nets.score_sde_checkpoint import load_score_sde_checkpoint

    path = Path(run.data_root) / s["checkpoint"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{run.paper}/{run.experiment}: score_model.checkpoint = {s['checkpoint']!r} -> {path} "
            f"does not exist; download the score_sde release ({s['release']}) to that path"
        )
    model = ncsnpp(config_from_dict(s["config"]))
    load_score_sde_checkpoint(model, path, "ema")
    return model.to(run.device).eval()
