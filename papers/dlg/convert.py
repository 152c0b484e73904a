"""The DMCMC noise-level classifier checkpoints (`logs/CIFAR10/200.pt`, `logs/CELEBAHQ/100.pt`) in our classifiers.

Layout, from the official notebooks: `torch.save({'epoch': int, 'opt': Adam state_dict, 'net': state_dict})`, the
network not wrapped in DataParallel, so its keys are `conv1.weight` ... `conv4.bias`, `fc.weight`, `fc.bias` with
the notebooks' fixed widths (3 -> 32 -> 64 -> 128 -> 256 channels, 1024 -> 1000 logits). `KEY_MAP` maps each
official key to ours; any missing, unexpected or misshapen key is refused, naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from papers.dlg.classifier import SimpleCNN, SimpleCNN256

KEYS = ("epoch", "opt", "net")
# official key -> our parameter (SimpleCNN and SimpleCNN256 keep the notebooks' module names)
KEY_MAP = {f"{m}.{p}": f"{m}.{p}" for m in ("conv1", "conv2", "conv3", "conv4", "fc") for p in ("weight", "bias")}
NETS = {"cifar10": SimpleCNN, "celebahq": SimpleCNN256}
N_LEVELS = 1000  # the released classifiers' classes (the notebooks' T)


def read_dmcmc_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, with its layout checked (a clear error names the file and the keys)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"DMCMC classifier checkpoint not found: {path} (get logs/CIFAR10/200.pt or "
            f"logs/CELEBAHQ/100.pt from github.com/1202kbs/DMCMC)"
        )
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("net"), dict):
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: expected a dict with keys {KEYS} ('net' a state dict), found {found}")
    return ckpt


def load_dmcmc_classifier(path: str | Path, arch: str = "cifar10") -> nn.Module:
    """SimpleCNN (arch 'cifar10') or SimpleCNN256 ('celebahq') with the checkpoint's weights, key by key."""
    if arch not in NETS:
        raise ValueError(f"unknown classifier arch {arch!r}; known: {', '.join(NETS)}")
    model = NETS[arch](N_LEVELS)
    state = read_dmcmc_checkpoint(path)["net"]
    missing, extra = sorted(set(KEY_MAP) - set(state)), sorted(set(state) - set(KEY_MAP))
    if missing or extra:
        raise ValueError(f"{path}: does not fit {NETS[arch].__name__}: missing {missing}, unexpected {extra}")
    ours = {KEY_MAP[k]: v for k, v in state.items()}
    want = model.state_dict()
    bad = [f"{k}: {tuple(ours[k].shape)} vs {tuple(v.shape)}" for k, v in want.items() if ours[k].shape != v.shape]
    if bad:
        raise ValueError(f"{path}: does not fit {NETS[arch].__name__}: shape mismatches {bad}")
    model.load_state_dict(ours, strict=True)
    return model.eval()


def write_dmcmc_stand_in(arch: str, dest: str | os.PathLike, seed: int = 0) -> Path:
    """Random weights of `arch` in the release's layout (epoch, Adam state, net), atomically at `dest`: the
    rehearsal's stand-in for an absent release; the loader reads it like the real file."""
    torch.manual_seed(seed)
    model = NETS[arch](N_LEVELS)
    ckpt = {"epoch": 0, "opt": torch.optim.Adam(model.parameters(), lr=1e-3).state_dict(), "net": model.state_dict()}
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    torch.save(ckpt, staged)
    os.replace(staged, dest)
    return dest
