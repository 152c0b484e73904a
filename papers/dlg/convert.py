"""Load the DMCMC noise-level classifier checkpoints (`logs/CIFAR10/200.pt`, `logs/CELEBAHQ/100.pt`).

Layout, from the official training notebook: `torch.save({'epoch': int, 'opt': Adam state_dict, 'net':
state_dict})`, the network not wrapped in DataParallel, so keys are `conv1.weight` ... `conv4.bias`,
`fc.weight`, `fc.bias`. Our SimpleCNN / SimpleCNN256 use the same names; loading is strict.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from papers.dlg.classifier import SimpleCNN, SimpleCNN256

KEYS = ("epoch", "opt", "net")


def read_dmcmc_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, with its layout checked (a clear error names the file and the keys)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"DMCMC classifier checkpoint not found: {path} (get logs/CIFAR10/200.pt or "
            f"logs/CELEBAHQ/100.pt from github.com/1202kbs/DMCMC)"
        )
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "net" not in ckpt:
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: expected a dict with keys {KEYS}, found {found}")
    return ckpt


def load_dmcmc_classifier(path: str | Path, arch: str = "cifar10") -> nn.Module:
    """SimpleCNN (arch 'cifar10') or SimpleCNN256 ('celebahq') with the checkpoint's weights, strictly."""
    nets = {"cifar10": SimpleCNN, "celebahq": SimpleCNN256}
    if arch not in nets:
        raise ValueError(f"unknown classifier arch {arch!r}; known: {', '.join(nets)}")
    model = nets[arch]()
    state = read_dmcmc_checkpoint(path)["net"]
    want = model.state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    bad = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in want.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or extra or bad:
        raise ValueError(
            f"{path}: does not fit {nets[arch].__name__}: missing {missing}, unexpected {extra}, shape mismatches {bad}"
        )
    model.load_state_dict(state, strict=True)
    return model.eval()
