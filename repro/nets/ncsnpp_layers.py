"""Building blocks of NCSN++ (score_sde), with the official parameter names, shapes and initialisation.

Attribute names (`GroupNorm_0`, `Conv_0`, `Dense_0`, `NIN_0`, `Conv2d_0`, `W`, `b`, ...) are part of the
checkpoint format and must not be renamed. Initialisers draw from the global torch RNG in the same order as
the official code, so a model built after `torch.manual_seed(s)` has the official initial weights.
FIR resampling is written with plain PyTorch convolutions (the official CPU path); no CUDA kernel is needed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


# ----------------------------------------------------------------------------------------------- initialisation


def variance_scaling_uniform(shape: Sequence[int], scale: float = 1.0) -> torch.Tensor:
    """DDPM 'fan_avg' uniform init; scale 0 means 1e-10 (the official near-zero init_scale).

    Fans treat axis 1 as input and axis 0 as output, every other axis as the receptive field.
    """
    scale = 1e-10 if scale == 0 else scale
    shape = tuple(int(s) for s in shape)
    receptive = math.prod(shape) / shape[1] / shape[0]
    fan_in = shape[1] * receptive
    fan_out = shape[0] * receptive
    variance = scale / ((fan_in + fan_out) / 2)
    return (torch.rand(*shape) * 2.0 - 1.0) * math.sqrt(3 * variance)


def conv2d(
    in_ch: int, out_ch: int, kernel: int, *, init_scale: float = 1.0, stride: int = 1, padding: int | None = None
) -> nn.Conv2d:
    """Conv ('same' padding unless given) with the DDPM init; torch's own init runs first, as upstream, to keep the
    RNG stream."""
    pad = kernel // 2 if padding is None else padding
    conv = nn.Conv2d(in_ch, out_ch, kernel_size=kernel, stride=stride, padding=pad)
    conv.weight.data = variance_scaling_uniform(conv.weight.shape, init_scale)
    nn.init.zeros_(conv.bias)
    return conv


def dense(in_features: int, out_features: int) -> nn.Linear:
    """Linear layer with the DDPM init and zero bias."""
    layer = nn.Linear(in_features, out_features)
    layer.weight.data = variance_scaling_uniform(layer.weight.shape)
    nn.init.zeros_(layer.bias)
    return layer


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm used throughout NCSN++: min(C/4, 32) groups, eps 1e-6."""
    return nn.GroupNorm(num_groups=min(channels // 4, 32), num_channels=channels, eps=1e-6)


# ----------------------------------------------------------------------------------------------- FIR resampling


@functools.lru_cache(maxsize=64)
def fir_kernel_2d(
    kernel: tuple[float, ...], gain: float = 1.0, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Separable FIR taps -> normalised 2-D kernel summing to `gain` (float32 arithmetic, as upstream; cached)."""
    if not kernel:
        raise ValueError("FIR kernel must be a non-empty sequence of taps")
    k = torch.tensor([float(v) for v in kernel], dtype=torch.float32, device="cpu")
    k2 = torch.outer(k, k)
    k2 = k2 / k2.sum() * gain
    return k2.to(device=device, dtype=dtype or torch.float32)


def upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, *, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """Zero-insertion upsampling by `up`, zero padding, 2-D FIR convolution, then keep every `down`-th pixel.

    `pad` = (before, after) applies to both spatial axes. The FIR is a true convolution (kernel flipped),
    applied per channel.
    """
    b, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(b, c, h, up, w, up)
        z[:, :, :, 0, :, 0] = x
        x = z.reshape(b, c, h * up, w * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    weight = torch.flip(kernel, (0, 1)).to(dtype=x.dtype, device=x.device)[None, None].expand(c, 1, *kernel.shape)
    return F.conv2d(x, weight, stride=down, groups=c)


def fir_upsample_2d(x: torch.Tensor, kernel: Sequence[float], factor: int = 2) -> torch.Tensor:
    """FIR upsampling by `factor` (output size H*factor), gain preserving constants."""
    k = fir_kernel_2d(tuple(kernel), float(factor**2), x.device, x.dtype)
    p = k.shape[0] - factor
    return upfirdn2d(x, k, up=factor, pad=((p + 1) // 2 + factor - 1, p // 2))


def fir_downsample_2d(x: torch.Tensor, kernel: Sequence[float], factor: int = 2) -> torch.Tensor:
    """FIR downsampling by `factor` (output size H/factor)."""
    k = fir_kernel_2d(tuple(kernel), 1.0, x.device, x.dtype)
    p = k.shape[0] - factor
    return upfirdn2d(x, k, down=factor, pad=((p + 1) // 2, p // 2))


def fir_upsample_conv_2d(
    x: torch.Tensor, weight: torch.Tensor, kernel: Sequence[float], factor: int = 2
) -> torch.Tensor:
    """Strided transposed convolution followed by FIR filtering: upsample then conv, fused (StyleGAN2 style).

    `weight` is a regular conv weight [out, in, k, k]; it is flipped spatially and used as a transposed conv.
    """
    k = fir_kernel_2d(tuple(kernel), float(factor**2), x.device, x.dtype)
    p = (k.shape[0] - factor) - (weight.shape[-1] - 1)
    x = F.conv_transpose2d(x, torch.flip(weight, (2, 3)).transpose(0, 1), stride=factor)
    return upfirdn2d(x, k, pad=((p + 1) // 2 + factor - 1, p // 2 + 1))


def naive_upsample_2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling by pixel repetition (the non-FIR BigGAN block)."""
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def naive_downsample_2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Mean over non-overlapping factor x factor blocks (the non-FIR BigGAN block)."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // factor, factor, w // factor, factor).mean(dim=(3, 5))


def fir_conv_downsample_2d(
    x: torch.Tensor, weight: torch.Tensor, kernel: Sequence[float], factor: int = 2
) -> torch.Tensor:
    """FIR filter (padding for the conv included) followed by a strided convolution: conv then downsample, fused."""
    k = fir_kernel_2d(tuple(kernel), 1.0, x.device, x.dtype)
    p = (k.shape[0] - factor) + (weight.shape[-1] - 1)
    x = upfirdn2d(x, k, pad=((p + 1) // 2, p // 2))
    return F.conv2d(x, weight, stride=factor)


# ----------------------------------------------------------------------------------------------- modules


class GaussianFourierProjection(nn.Module):
    """Random Fourier features of a scalar (log sigma): [sin | cos](2 pi x W) with fixed W ~ N(0, scale^2)."""

    def __init__(self, embedding_size: int, scale: float) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.randn(embedding_size) * scale, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        proj = x[:, None] * self.W[None, :] * 2 * math.pi
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)


def positional_embedding(timesteps: torch.Tensor, dim: int, max_positions: int = 10000) -> torch.Tensor:
    """DDPM sinusoidal embedding [B, dim] of (possibly fractional) timesteps: [sin | cos] at geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(
        torch.arange(half, dtype=torch.float32, device=timesteps.device) * -(math.log(max_positions) / (half - 1))
    )
    args = timesteps.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


class NIN(nn.Module):
    """Per-pixel linear map over channels; weight stored as [in, out] with bias `b` (official layout)."""

    def __init__(self, in_dim: int, num_units: int, init_scale: float = 0.1) -> None:
        super().__init__()
        self.W = nn.Parameter(variance_scaling_uniform((in_dim, num_units), init_scale))
        self.b = nn.Parameter(torch.zeros(num_units))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(x.permute(0, 2, 3, 1), self.W) + self.b
        return y.permute(0, 3, 1, 2)


class AttnBlockpp(nn.Module):
    """Single-head self-attention over all pixels, residual, optionally rescaled by 1/sqrt(2)."""

    def __init__(self, channels: int, *, skip_rescale: bool, init_scale: float) -> None:
        super().__init__()
        self.GroupNorm_0 = group_norm(channels)
        self.NIN_0 = NIN(channels, channels)
        self.NIN_1 = NIN(channels, channels)
        self.NIN_2 = NIN(channels, channels)
        self.NIN_3 = NIN(channels, channels, init_scale=init_scale)
        self.skip_rescale = skip_rescale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        normed = self.GroupNorm_0(x)
        q = self.NIN_0(normed).reshape(b, c, h * w)
        k = self.NIN_1(normed).reshape(b, c, h * w)
        v = self.NIN_2(normed).reshape(b, c, h * w)
        logits = torch.bmm(q.transpose(1, 2), k) * (int(c) ** -0.5)  # [b, query pixel, key pixel]
        attn = torch.softmax(logits, dim=-1)
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(b, c, h, w)
        out = self.NIN_3(out)
        return (x + out) / SQRT2 if self.skip_rescale else x + out


class FIRConv(nn.Module):
    """3x3 conv fused with FIR up- or downsampling by 2 (parameters `weight` [out, in, 3, 3] and `bias`)."""

    def __init__(self, in_ch: int, out_ch: int, fir_kernel: Sequence[float], *, up: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(variance_scaling_uniform((out_ch, in_ch, 3, 3)))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.fir_kernel = tuple(fir_kernel)
        self.up = up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            h = fir_upsample_conv_2d(x, self.weight, self.fir_kernel)
        else:
            h = fir_conv_downsample_2d(x, self.weight, self.fir_kernel)
        return h + self.bias.reshape(1, -1, 1, 1)


class _Resample(nn.Module):
    """Shared by Downsample and Upsample: a FIR filter or the plain resampling, optionally with a conv (named
    `Conv2d_0` with FIR, `Conv_0` without, as in the official state dicts)."""

    up: bool

    def __init__(
        self, in_ch: int, out_ch: int | None = None, *, with_conv: bool, fir: bool, fir_kernel: Sequence[float]
    ) -> None:
        super().__init__()
        out_ch = out_ch or in_ch
        if with_conv and fir:
            self.Conv2d_0 = FIRConv(in_ch, out_ch, fir_kernel, up=self.up)
        elif with_conv:
            self.Conv_0 = conv2d(in_ch, out_ch, 3) if self.up else conv2d(in_ch, out_ch, 3, stride=2, padding=0)
        elif in_ch != out_ch:
            raise ValueError(f"{type(self).__name__} without a conv cannot change the channel count")
        self.with_conv, self.fir, self.fir_kernel = with_conv, fir, tuple(fir_kernel)


class Downsample(_Resample):
    """Halve the resolution: FIR filter or 2x2 average, optionally with a conv."""

    up = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fir:
            return self.Conv2d_0(x) if self.with_conv else fir_downsample_2d(x, self.fir_kernel)
        x = F.pad(x, (0, 1, 0, 1))  # TF 'SAME' padding of a stride-2 window
        return self.Conv_0(x) if self.with_conv else F.avg_pool2d(x, 2, stride=2)


class Upsample(_Resample):
    """Double the resolution: FIR filter or nearest neighbour, optionally with a conv."""

    up = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fir:
            return self.Conv2d_0(x) if self.with_conv else fir_upsample_2d(x, self.fir_kernel)
        h = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.Conv_0(h) if self.with_conv else h


class Combine(nn.Module):
    """Merge the input pyramid into the features: 1x1 conv (`Conv_0`) of the pyramid, then sum or channel concat."""

    def __init__(self, dim1: int, dim2: int, method: str) -> None:
        super().__init__()
        if method not in ("sum", "cat"):
            raise ValueError(f"Combine method must be 'sum' or 'cat', got {method!r}")
        self.Conv_0 = conv2d(dim1, dim2, 1)
        self.method = method

    def forward(self, pyramid: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        p = self.Conv_0(pyramid)
        return torch.cat([p, h], dim=1) if self.method == "cat" else p + h


class ResnetBlockBigGANpp(nn.Module):
    """BigGAN-style residual block with optional up/down sampling of both branches (FIR, or pixel repeat / block
    mean when `fir` is off) and a noise-embedding bias.

    The shortcut gets a 1x1 conv (`Conv_2`) when channels change or the block resamples.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int | None = None,
        *,
        temb_dim: int,
        up: bool = False,
        down: bool = False,
        dropout: float,
        fir: bool,
        fir_kernel: Sequence[float],
        skip_rescale: bool,
        init_scale: float,
    ) -> None:
        super().__init__()
        if up and down:
            raise ValueError("a residual block cannot both upsample and downsample")
        out_ch = out_ch or in_ch
        self.GroupNorm_0 = group_norm(in_ch)
        self.Conv_0 = conv2d(in_ch, out_ch, 3)
        self.Dense_0 = dense(temb_dim, out_ch)
        self.GroupNorm_1 = group_norm(out_ch)
        self.Dropout_0 = nn.Dropout(dropout)
        self.Conv_1 = conv2d(out_ch, out_ch, 3, init_scale=init_scale)
        self.has_shortcut_conv = in_ch != out_ch or up or down
        if self.has_shortcut_conv:
            self.Conv_2 = conv2d(in_ch, out_ch, 1)
        self.up, self.down = up, down
        self.fir, self.fir_kernel = fir, tuple(fir_kernel)
        self.skip_rescale = skip_rescale

    def _resample(self, t: torch.Tensor) -> torch.Tensor:
        if self.up:
            return fir_upsample_2d(t, self.fir_kernel) if self.fir else naive_upsample_2d(t)
        if self.down:
            return fir_downsample_2d(t, self.fir_kernel) if self.fir else naive_downsample_2d(t)
        return t

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        h = F.silu(self.GroupNorm_0(x))
        h = self._resample(h)
        x = self._resample(x)
        h = self.Conv_0(h)
        if temb is not None:
            h = h + self.Dense_0(F.silu(temb))[:, :, None, None]
        h = F.silu(self.GroupNorm_1(h))
        h = self.Dropout_0(h)
        h = self.Conv_1(h)
        if self.has_shortcut_conv:
            x = self.Conv_2(x)
        return (x + h) / SQRT2 if self.skip_rescale else x + h
