"""A small VE score network for the CPU tier (28×28, 14×14 and 7×7 digits) and score_sde's continuous VE loss.

The score goes through a denoiser with Karras et al.'s (2022) preconditioning: D(x) = c_skip x + c_out F(c_in x, log σ),
s(x, σ) = (D − x)/σ², with c_in = 1/sqrt(σ² + sd²), c_skip = sd²/(σ² + sd²), c_out = σ sd/sqrt(σ² + sd²) (sd: the
data's standard deviation). At high noise the skip term −x/(σ² + sd²) is already the Gaussian score, so the network
only learns the data's correction; without it a small, briefly trained net's score stays ~10 % off at σ_max, and the
orthogonal Fisher divergence then measures the net's error instead of the data. Odd sizes (7×7) work because the
decoder resizes to the skip connection's size.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=1), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm1, self.norm2 = nn.GroupNorm(8, c_out), nn.GroupNorm(8, c_out)
        self.emb = nn.Linear(emb, c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(self.conv1(x))) + self.emb(e)[:, :, None, None]
        return self.skip(x) + F.silu(self.norm2(self.conv2(h)))


class SmallScoreNet(nn.Module):
    """Conv U-Net over `depth` resolutions (stride-2 steps, width then 2·width channels) with a Fourier embedding of
    log σ. A third resolution (28 → 14 → 7) lets the net see a whole digit at little extra cost."""

    def __init__(self, channels: int = 1, width: int = 32, data_std: float = 0.5, depth: int = 2) -> None:
        super().__init__()
        if width % 8:
            raise ValueError(f"width must be a multiple of 8 (GroupNorm), got {width}")
        if depth < 2:
            raise ValueError(f"depth must be at least 2 resolutions, got {depth}")
        self.register_buffer("data_std", torch.tensor(float(data_std)))
        self.register_buffer("freqs", torch.randn(width // 2, generator=torch.Generator().manual_seed(0)) * 4.0)
        emb = 4 * width
        ch = [width] + [2 * width] * (depth - 1)
        self.embed = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.enc = nn.ModuleList(_Block(c, c, emb) for c in ch[:-1])
        self.down = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in pairwise(ch))
        self.mid1, self.mid2 = _Block(ch[-1], ch[-1], emb), _Block(ch[-1], ch[-1], emb)
        self.up = nn.ModuleList(nn.Conv2d(b, a, 3, padding=1) for a, b in pairwise(ch))
        self.dec = nn.ModuleList(_Block(2 * c, c, emb) for c in ch[:-1])
        self.out = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = sigma.to(x.dtype).reshape(-1)
        ang = 2 * math.pi * torch.log(sigma)[:, None] * self.freqs[None]
        e = self.embed(torch.cat([ang.sin(), ang.cos()], -1))
        s = sigma.reshape(-1, 1, 1, 1)
        var = s**2 + self.data_std**2
        h, skips = self.inp(x * var.rsqrt()), []
        for enc, down in zip(self.enc, self.down, strict=True):
            skips.append(enc(h, e))
            h = down(skips[-1])
        h = self.mid2(self.mid1(h, e), e)
        for i in reversed(range(len(skips))):
            h = self.up[i](F.interpolate(h, size=skips[i].shape[-2:], mode="nearest"))
            h = self.dec[i](torch.cat([h, skips[i]], 1), e)
        c_out = s * self.data_std * var.rsqrt()
        return c_out * self.out(F.silu(h)) / s**2 - x / var
