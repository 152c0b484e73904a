"""NCSN++ (score_sde, VE SDE, continuous sigma conditioning) with the official flat `all_modules` layout.

The module list is built in the official order so that state_dict keys, shapes and ordering equal those of
`score_sde_pytorch/models/ncsnpp.py` (after removing the DataParallel `module.` prefix), and official
checkpoints load strictly. Forward: `model(x, sigma)` with x in [0, 1] (unless `centered`) of shape
[B, C, H, W] and sigma of shape [B]; returns the score estimate (already divided by sigma when
`scale_by_sigma`).

Supported variant: Fourier embedding of log sigma, BigGAN residual blocks with FIR resampling,
progressive 'none', progressive_input 'residual' or 'none', swish activations. Anything else is rejected.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from repro.nets.ncsnpp_layers import (
    SQRT2,
    AttnBlockpp,
    GaussianFourierProjection,
    PyramidDownsample,
    ResnetBlockBigGANpp,
    conv2d,
    dense,
    group_norm,
)


@dataclasses.dataclass(frozen=True)
class NCSNppConfig:
    """Architecture values of NCSN++ (names follow score_sde's `config.model` / `config.data`)."""

    nf: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 2, 2)
    num_res_blocks: int = 4
    attn_resolutions: tuple[int, ...] = (16,)
    image_size: int = 32
    channels: int = 3
    dropout: float = 0.1
    fir_kernel: tuple[int, ...] = (1, 3, 3, 1)
    skip_rescale: bool = True
    progressive_input: str = "residual"
    progressive: str = "none"
    init_scale: float = 0.0
    conditional: bool = True
    scale_by_sigma: bool = True
    centered: bool = False
    fourier_scale: float = 16.0
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    num_scales: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "ch_mult", tuple(int(m) for m in self.ch_mult))
        object.__setattr__(self, "attn_resolutions", tuple(int(r) for r in self.attn_resolutions))
        object.__setattr__(self, "fir_kernel", tuple(self.fir_kernel))
        if self.progressive != "none":
            raise ValueError(f"NCSNppConfig.progressive={self.progressive!r}: only 'none' is implemented")
        if self.progressive_input not in ("none", "residual"):
            raise ValueError(
                f"NCSNppConfig.progressive_input={self.progressive_input!r}: only 'residual' or 'none' is implemented"
            )
        for name in ("nf", "num_res_blocks", "image_size", "channels", "num_scales"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"NCSNppConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.fir_kernel:
            raise ValueError("NCSNppConfig.fir_kernel must be a non-empty sequence of taps")
        if not self.ch_mult or min(self.ch_mult) < 1:
            raise ValueError(f"NCSNppConfig.ch_mult must be non-empty positive integers, got {self.ch_mult!r}")
        if self.image_size % 2 ** (len(self.ch_mult) - 1):
            raise ValueError(
                f"NCSNppConfig.image_size={self.image_size} is not divisible by 2**{len(self.ch_mult) - 1} "
                f"(len(ch_mult)={len(self.ch_mult)})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"NCSNppConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"NCSNppConfig needs 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")


# Official config names that the official NCSNpp never reads (or that must hold the only supported value).
_IGNORED_OFFICIAL_KEYS = {
    "attention_type",
    "conv_size",
    "normalization",
    "name",
    "ema_rate",
    "progressive_combine",
    "beta_min",
    "beta_max",
}
_FIXED_OFFICIAL_VALUES: dict[str, Any] = {
    "resblock_type": "biggan",
    "embedding_type": "fourier",
    "nonlinearity": "swish",
    "fir": True,
    "resamp_with_conv": True,
    "training.continuous": True,
    "training.sde": "vesde",
}
_ALIASES = {"num_channels": "channels", "data.centered": "centered", "data.image_size": "image_size"}


def config_from_dict(values: Mapping[str, Any]) -> NCSNppConfig:
    """Build a config from a plain dict: our field names, or the official flat names (`num_channels`, ...).

    Official fields that NCSN++ ignores are accepted and dropped; fields with a single supported value
    (e.g. `resblock_type`) must hold it. Any other key is an error naming it.
    """
    fields = {f.name for f in dataclasses.fields(NCSNppConfig)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        name = _ALIASES.get(key, key)
        if name in fields:
            if name in kwargs:
                raise ValueError(f"NCSN++ config: {name!r} given twice (as {key!r})")
            kwargs[name] = value
        elif key in _IGNORED_OFFICIAL_KEYS:
            continue
        elif key in _FIXED_OFFICIAL_VALUES:
            wanted = _FIXED_OFFICIAL_VALUES[key]
            if (value.lower() if isinstance(value, str) else value) != wanted:
                raise ValueError(f"NCSN++ config: {key}={value!r} is not supported (only {wanted!r})")
        else:
            raise ValueError(f"NCSN++ config: unknown key {key!r} (known: {sorted(fields)})")
    return NCSNppConfig(**kwargs)


def _ve_sigma_grid(cfg: NCSNppConfig) -> torch.Tensor:
    """Geometric grid sigma_max -> sigma_min (float64), bit-equal to the official `sigmas` buffer."""
    logs = np.linspace(np.log(cfg.sigma_max), np.log(cfg.sigma_min), cfg.num_scales)
    return torch.tensor([math.exp(v) for v in logs.tolist()], dtype=torch.float64)


class NCSNpp(nn.Module):
    """NCSN++ score network s(x, sigma) with the official flat module list and parameter names."""

    def __init__(self, cfg: NCSNppConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # Unused by the Fourier-embedded model, but part of every official checkpoint.
        self.register_buffer("sigmas", _ve_sigma_grid(cfg))
        nf, temb_dim = cfg.nf, 4 * cfg.nf
        n_levels = len(cfg.ch_mult)
        resolutions = [cfg.image_size // 2**i for i in range(n_levels)]
        self.level_has_attn = [r in cfg.attn_resolutions for r in resolutions]

        def resblock(in_ch: int, out_ch: int | None = None, **kw: bool) -> ResnetBlockBigGANpp:
            return ResnetBlockBigGANpp(
                in_ch,
                out_ch,
                temb_dim=temb_dim,
                dropout=cfg.dropout,
                fir_kernel=cfg.fir_kernel,
                skip_rescale=cfg.skip_rescale,
                init_scale=cfg.init_scale,
                **kw,
            )

        def attn(ch: int) -> AttnBlockpp:
            return AttnBlockpp(ch, skip_rescale=cfg.skip_rescale, init_scale=cfg.init_scale)

        mods: list[nn.Module] = [GaussianFourierProjection(nf, cfg.fourier_scale)]
        if cfg.conditional:
            mods += [dense(2 * nf, temb_dim), dense(temb_dim, temb_dim)]
        mods.append(conv2d(cfg.channels, nf, 3))
        skip_ch = [nf]
        in_ch, pyramid_ch = nf, cfg.channels
        for level in range(n_levels):
            for _ in range(cfg.num_res_blocks):
                out_ch = nf * cfg.ch_mult[level]
                mods.append(resblock(in_ch, out_ch))
                in_ch = out_ch
                if self.level_has_attn[level]:
                    mods.append(attn(in_ch))
                skip_ch.append(in_ch)
            if level != n_levels - 1:
                mods.append(resblock(in_ch, down=True))
                if cfg.progressive_input == "residual":
                    mods.append(PyramidDownsample(pyramid_ch, in_ch, cfg.fir_kernel))
                    pyramid_ch = in_ch
                skip_ch.append(in_ch)
        mods += [resblock(in_ch), attn(in_ch), resblock(in_ch)]
        for level in reversed(range(n_levels)):
            for _ in range(cfg.num_res_blocks + 1):
                out_ch = nf * cfg.ch_mult[level]
                mods.append(resblock(in_ch + skip_ch.pop(), out_ch))
                in_ch = out_ch
            if self.level_has_attn[level]:
                mods.append(attn(in_ch))
            if level != 0:
                mods.append(resblock(in_ch, up=True))
        assert not skip_ch
        mods += [group_norm(in_ch), conv2d(in_ch, cfg.channels, 3, init_scale=cfg.init_scale)]
        self.all_modules = nn.ModuleList(mods)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        expected = (cfg.channels, cfg.image_size, cfg.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"NCSNpp expects x of shape [B, {', '.join(map(str, expected))}], got {tuple(x.shape)}")
        if sigma.shape != (x.shape[0],):
            raise ValueError(f"NCSNpp expects sigma of shape [{x.shape[0]}], got {tuple(sigma.shape)}")
        mods: Iterator[nn.Module] = iter(self.all_modules)
        n_levels = len(cfg.ch_mult)

        temb: torch.Tensor | None = next(mods)(torch.log(sigma))
        if cfg.conditional:
            temb = next(mods)(temb)
            temb = next(mods)(F.silu(temb))
        else:
            temb = None
        if not cfg.centered:
            x = 2 * x - 1.0

        pyramid = x
        hs = [next(mods)(x)]
        for level in range(n_levels):
            for _ in range(cfg.num_res_blocks):
                h = next(mods)(hs[-1], temb)
                if self.level_has_attn[level]:
                    h = next(mods)(h)
                hs.append(h)
            if level != n_levels - 1:
                h = next(mods)(hs[-1], temb)
                if cfg.progressive_input == "residual":
                    pyramid = next(mods)(pyramid)
                    pyramid = (pyramid + h) / SQRT2 if cfg.skip_rescale else pyramid + h
                    h = pyramid
                hs.append(h)

        h = next(mods)(hs[-1], temb)
        h = next(mods)(h)
        h = next(mods)(h, temb)
        for level in reversed(range(n_levels)):
            for _ in range(cfg.num_res_blocks + 1):
                h = next(mods)(torch.cat([h, hs.pop()], dim=1), temb)
            if self.level_has_attn[level]:
                h = next(mods)(h)
            if level != 0:
                h = next(mods)(h, temb)

        h = F.silu(next(mods)(h))
        h = next(mods)(h)
        if cfg.scale_by_sigma:
            h = h / sigma.reshape(-1, 1, 1, 1)
        return h


def ncsnpp(cfg: NCSNppConfig | Mapping[str, Any]) -> NCSNpp:
    """Build NCSN++ from a config object or a plain dict of config values (see `config_from_dict`)."""
    return NCSNpp(cfg if isinstance(cfg, NCSNppConfig) else config_from_dict(cfg))


def cifar10_ve_continuous_config(**overrides: Any) -> NCSNppConfig:
    """`configs/ve/cifar10_ncsnpp_continuous.py` (nf 128, ch_mult 1,2,2,2, 4 blocks, attention at 16)."""
    return dataclasses.replace(NCSNppConfig(), **overrides)


def cifar10_deep_ve_continuous_config(**overrides: Any) -> NCSNppConfig:
    """`configs/ve/cifar10_ncsnpp_deep_continuous.py`: as CIFAR-10 but 8 residual blocks per level."""
    return dataclasses.replace(NCSNppConfig(num_res_blocks=8), **overrides)


def ncsnpp_cifar10_ve_continuous(**overrides: Any) -> NCSNpp:
    """NCSN++ for CIFAR-10, VE SDE, continuous training (62,758,915 parameters)."""
    return NCSNpp(cifar10_ve_continuous_config(**overrides))


def ncsnpp_deep_cifar10_ve_continuous(**overrides: Any) -> NCSNpp:
    """NCSN++ deep for CIFAR-10, VE SDE, continuous training (107,587,075 parameters)."""
    return NCSNpp(cifar10_deep_ve_continuous_config(**overrides))


class ParameterCounts(NamedTuple):
    """Parameter element counts (the float64 `sigmas` buffer is not a parameter)."""

    total: int
    trainable: int


def parameter_counts(model: nn.Module) -> ParameterCounts:
    """Count parameter elements, all and those with requires_grad."""
    params = list(model.parameters())
    return ParameterCounts(sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad))


def config_parameter_counts(cfg: NCSNppConfig) -> ParameterCounts:
    """Parameter counts of the model a config builds, without allocating weights (built on the meta device)."""
    with torch.device("meta"):
        return parameter_counts(NCSNpp(cfg))
