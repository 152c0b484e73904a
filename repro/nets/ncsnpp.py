"""NCSN++ / DDPM++ (score_sde's `NCSNpp` class) with the official flat `all_modules` layout.

The module list is built in the official order so that state_dict keys, shapes and ordering equal those of
`score_sde_pytorch/models/ncsnpp.py` (after removing the DataParallel `module.` prefix), and official
checkpoints load strictly. Forward: `model(x, cond)` with x of shape [B, C, H, W] (in [0, 1] unless
`centered`) and cond of shape [B]: the noise level sigma for the Fourier embedding (NCSN++, VE), the time
label (999 t for continuous VP / sub-VP) for the positional embedding (DDPM++). With `scale_by_sigma` the
output is divided by sigma (Fourier: cond itself; positional: the `sigmas` buffer at int(cond)).

Supported: BigGAN residual blocks (FIR or plain resampling), Fourier or positional embedding, progressive
'none' / 'output_skip' / 'residual', progressive_input 'none' / 'input_skip' / 'residual', combine 'sum' /
'cat', swish activations. Anything else is rejected.
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
    Combine,
    Downsample,
    GaussianFourierProjection,
    ResnetBlockBigGANpp,
    Upsample,
    conv2d,
    dense,
    group_norm,
    positional_embedding,
)

_CHOICES: dict[str, tuple[str, ...]] = {
    "progressive": ("none", "output_skip", "residual"),
    "progressive_input": ("none", "input_skip", "residual"),
    "progressive_combine": ("sum", "cat"),
    "embedding_type": ("fourier", "positional"),
}


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
    fir: bool = True
    fir_kernel: tuple[int, ...] = (1, 3, 3, 1)
    skip_rescale: bool = True
    progressive_input: str = "residual"
    progressive: str = "none"
    progressive_combine: str = "sum"
    embedding_type: str = "fourier"
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
        for name, allowed in _CHOICES.items():
            value = str(getattr(self, name)).lower()
            if value not in allowed:
                raise ValueError(f"NCSNppConfig.{name}={getattr(self, name)!r}: must be one of {allowed}")
            object.__setattr__(self, name, value)
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
# The network does not depend on the SDE: `training.sde` only decides how callers form cond and the score.
_IGNORED_OFFICIAL_KEYS = {
    "attention_type",
    "conv_size",
    "normalization",
    "name",
    "ema_rate",
    "beta_min",
    "beta_max",
    "training.sde",
}
_FIXED_OFFICIAL_VALUES: dict[str, Any] = {
    "resblock_type": "biggan",
    "nonlinearity": "swish",
    "resamp_with_conv": True,
    "training.continuous": True,
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
    """NCSN++ / DDPM++ score network with the official flat module list and parameter names."""

    def __init__(self, cfg: NCSNppConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # Read only by a positional model with scale_by_sigma, but part of every official checkpoint.
        self.register_buffer("sigmas", _ve_sigma_grid(cfg))
        nf, temb_dim, channels = cfg.nf, 4 * cfg.nf, cfg.channels
        n_levels = len(cfg.ch_mult)
        resolutions = [cfg.image_size // 2**i for i in range(n_levels)]
        self.level_has_attn = [r in cfg.attn_resolutions for r in resolutions]
        fir = {"fir": cfg.fir, "fir_kernel": cfg.fir_kernel}

        def resblock(in_ch: int, out_ch: int | None = None, **kw: bool) -> ResnetBlockBigGANpp:
            return ResnetBlockBigGANpp(
                in_ch,
                out_ch,
                temb_dim=temb_dim,
                dropout=cfg.dropout,
                skip_rescale=cfg.skip_rescale,
                init_scale=cfg.init_scale,
                **fir,
                **kw,
            )

        def attn(ch: int) -> AttnBlockpp:
            return AttnBlockpp(ch, skip_rescale=cfg.skip_rescale, init_scale=cfg.init_scale)

        mods: list[nn.Module] = []
        if cfg.embedding_type == "fourier":
            mods.append(GaussianFourierProjection(nf, cfg.fourier_scale))
        if cfg.conditional:
            embed_dim = 2 * nf if cfg.embedding_type == "fourier" else nf
            mods += [dense(embed_dim, temb_dim), dense(temb_dim, temb_dim)]
        mods.append(conv2d(channels, nf, 3))
        skip_ch = [nf]
        in_ch, pyramid_ch = nf, channels
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
                if cfg.progressive_input == "input_skip":
                    mods.append(Combine(pyramid_ch, in_ch, cfg.progressive_combine))
                    if cfg.progressive_combine == "cat":
                        in_ch *= 2
                elif cfg.progressive_input == "residual":
                    mods.append(Downsample(pyramid_ch, in_ch, with_conv=True, **fir))
                    pyramid_ch = in_ch
                skip_ch.append(in_ch)
        mods += [resblock(in_ch), attn(in_ch), resblock(in_ch)]
        pyramid_ch = 0
        for level in reversed(range(n_levels)):
            for _ in range(cfg.num_res_blocks + 1):
                out_ch = nf * cfg.ch_mult[level]
                mods.append(resblock(in_ch + skip_ch.pop(), out_ch))
                in_ch = out_ch
            if self.level_has_attn[level]:
                mods.append(attn(in_ch))
            if cfg.progressive == "output_skip":
                mods += [group_norm(in_ch), conv2d(in_ch, channels, 3, init_scale=cfg.init_scale)]
                pyramid_ch = channels
            elif cfg.progressive == "residual":
                if level == n_levels - 1:
                    mods += [group_norm(in_ch), conv2d(in_ch, in_ch, 3)]
                else:
                    mods.append(Upsample(pyramid_ch, in_ch, with_conv=True, **fir))
                pyramid_ch = in_ch
            if level != 0:
                mods.append(resblock(in_ch, up=True))
        assert not skip_ch
        if cfg.progressive != "output_skip":
            mods += [group_norm(in_ch), conv2d(in_ch, channels, 3, init_scale=cfg.init_scale)]
        self.all_modules = nn.ModuleList(mods)
        # Parameter-free pyramid resamplers live outside the flat list (as upstream), so they take no index.
        self.pyramid_downsample = Downsample(channels, with_conv=False, **fir)
        self.pyramid_upsample = Upsample(channels, with_conv=False, **fir)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Score (Fourier / scale_by_sigma) or raw network output for x [B, C, H, W] and cond [B]."""
        cfg = self.cfg
        expected = (cfg.channels, cfg.image_size, cfg.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"NCSNpp expects x of shape [B, {', '.join(map(str, expected))}], got {tuple(x.shape)}")
        if cond.shape != (x.shape[0],):
            raise ValueError(
                f"NCSNpp expects cond (sigma or time label) of shape [{x.shape[0]}], got {tuple(cond.shape)}"
            )
        mods: Iterator[nn.Module] = iter(self.all_modules)
        n_levels = len(cfg.ch_mult)

        if cfg.embedding_type == "fourier":
            temb: torch.Tensor | None = next(mods)(torch.log(cond))
        else:
            temb = positional_embedding(cond, cfg.nf)
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
                if cfg.progressive_input == "input_skip":
                    pyramid = self.pyramid_downsample(pyramid)
                    h = next(mods)(pyramid, h)
                elif cfg.progressive_input == "residual":
                    pyramid = next(mods)(pyramid)
                    pyramid = (pyramid + h) / SQRT2 if cfg.skip_rescale else pyramid + h
                    h = pyramid
                hs.append(h)

        h = next(mods)(hs[-1], temb)
        h = next(mods)(h)
        h = next(mods)(h, temb)

        def norm_act_conv(t: torch.Tensor) -> torch.Tensor:
            norm, conv = next(mods), next(mods)
            return conv(F.silu(norm(t)))

        out_pyramid = torch.zeros(())  # replaced at the lowest resolution before any use
        for level in reversed(range(n_levels)):
            for _ in range(cfg.num_res_blocks + 1):
                h = next(mods)(torch.cat([h, hs.pop()], dim=1), temb)
            if self.level_has_attn[level]:
                h = next(mods)(h)
            lowest = level == n_levels - 1
            if cfg.progressive == "output_skip":
                out_pyramid = norm_act_conv(h) if lowest else self.pyramid_upsample(out_pyramid) + norm_act_conv(h)
            elif cfg.progressive == "residual":
                if lowest:
                    out_pyramid = norm_act_conv(h)
                else:
                    out_pyramid = next(mods)(out_pyramid)
                    out_pyramid = (out_pyramid + h) / SQRT2 if cfg.skip_rescale else out_pyramid + h
                    h = out_pyramid
            if level != 0:
                h = next(mods)(h, temb)

        h = out_pyramid if cfg.progressive == "output_skip" else norm_act_conv(h)
        if next(mods, None) is not None:
            raise RuntimeError("NCSNpp.forward did not use every module (layout and forward disagree)")
        if cfg.scale_by_sigma:
            sigma = cond if cfg.embedding_type == "fourier" else self.sigmas[cond.int()]
            h = h / sigma.to(h.dtype).reshape(-1, 1, 1, 1)
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


def celebahq_256_ve_continuous_config(**overrides: Any) -> NCSNppConfig:
    """`configs/ve/celebahq_256_ncsnpp_continuous.py`: 256x256, ch_mult 1,1,2,2,2,2,2, 2 blocks, progressive
    output_skip / input_skip (sum), sigma_max 348, 2000 scales, dropout 0."""
    base = NCSNppConfig(
        ch_mult=(1, 1, 2, 2, 2, 2, 2),
        num_res_blocks=2,
        image_size=256,
        dropout=0.0,
        progressive="output_skip",
        progressive_input="input_skip",
        sigma_max=348.0,
        num_scales=2000,
    )
    return dataclasses.replace(base, **overrides)


def cifar10_ddpmpp_continuous_config(**overrides: Any) -> NCSNppConfig:
    """DDPM++ cont. (`configs/subvp/cifar10_ddpmpp_continuous.py`, the VP config has the same network): positional
    embedding, no FIR, no progressive paths, centred data, no division by sigma, 4 blocks per level."""
    base = NCSNppConfig(
        fir=False,
        progressive_input="none",
        embedding_type="positional",
        scale_by_sigma=False,
        centered=True,
    )
    return dataclasses.replace(base, **overrides)


def cifar10_ddpmpp_deep_continuous_config(**overrides: Any) -> NCSNppConfig:
    """DDPM++ cont. deep (`configs/subvp/cifar10_ddpmpp_deep_continuous.py`): as DDPM++ with 8 blocks per level."""
    return cifar10_ddpmpp_continuous_config(**{"num_res_blocks": 8, **overrides})


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
