"""NCSN's conditional RefineNet with dilations (Song & Ermon 2019, App. A), in the official parameter layout.

Module and attribute names follow `ermongroup/ncsn` `CondRefineNetDilated` so that official checkpoints load
with strict key matching (see `repro.nets.ncsn_checkpoint`); parameters are registered in the official order,
so an official Adam state (indexed by parameter position) lines up too.

Facts that matter (from the official model): the network takes data in [0, 1] and maps it to 2x - 1; the
labels are noise-level indices (0 = largest sigma); the output is the score itself (not divided by sigma);
only the first block of `res2` halves the resolution, `res3`/`res4` are dilated and keep it; every
normalisation is conditional instance norm++; ELU everywhere; the chained-residual-pooling block pools with
a 5x5 *average* pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CondInstanceNormPlus", "CondRefineNetDilated", "LevelScore"]


def _conv3x3(c_in: int, c_out: int, bias: bool, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution that keeps the spatial size (padding = dilation)."""
    return nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=bias)


class CondInstanceNormPlus(nn.Module):
    """Conditional instance norm++: gamma_k (x_k - mu_k)/s_k + beta_k + alpha_k (mu_k - m)/v, per noise level.

    One embedding row per level holds [gamma | alpha | beta]; gamma and alpha start at N(1, 0.02), beta at 0.
    v is the *unbiased* std of the channel means (+1e-5 inside the root), as in the official code.
    """

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.channels = channels
        self.embed = nn.Embedding(num_classes, 3 * channels)
        with torch.no_grad():
            self.embed.weight[:, : 2 * channels].normal_(1.0, 0.02)
            self.embed.weight[:, 2 * channels :].zero_()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        means = x.mean(dim=(2, 3))
        means = (means - means.mean(dim=1, keepdim=True)) / torch.sqrt(means.var(dim=1, keepdim=True) + 1e-5)
        h = F.instance_norm(x, eps=1e-5)
        gamma, alpha, beta = self.embed(y)[:, :, None, None].chunk(3, dim=1)
        return gamma * (h + alpha * means[:, :, None, None]) + beta


class ConvMeanPool(nn.Module):
    """Convolution followed by a 2x2 mean pool (the one real downsampling of the network)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(x), 2)


class ResidualBlock(nn.Module):
    """Pre-activation conditional residual block.

    `resample=True` is the official 'down' tag: the first conv keeps the input width, the shortcut is always
    learnt, and the block halves the resolution only when `dilation == 1`; dilated 'down' blocks keep the size.
    Attributes are created in the official order (conv1, normalize2, conv2, shortcut, normalize1).
    """

    def __init__(self, c_in: int, c_out: int, num_classes: int, resample: bool = False, dilation: int = 1) -> None:
        super().__init__()
        self.act = nn.ELU()
        pooled = resample and dilation == 1
        c_mid = c_in if resample else c_out
        self.conv1 = _conv3x3(c_in, c_mid, bias=True, dilation=dilation)
        self.normalize2 = CondInstanceNormPlus(c_mid, num_classes)
        self.conv2 = ConvMeanPool(c_mid, c_out, 3) if pooled else _conv3x3(c_mid, c_out, bias=True, dilation=dilation)
        if pooled:
            self.shortcut: nn.Module | None = ConvMeanPool(c_in, c_out, 1)
        elif resample or c_in != c_out:
            if dilation == 1:
                raise ValueError(f"a width-changing block without resampling ({c_in}->{c_out}) has no official form")
            self.shortcut = _conv3x3(c_in, c_out, bias=True, dilation=dilation)
        else:
            self.shortcut = None
        self.normalize1 = CondInstanceNormPlus(c_in, num_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.normalize1(x, y)))
        h = self.conv2(self.act(self.normalize2(h, y)))
        return h + (x if self.shortcut is None else self.shortcut(x))


class CondRCUBlock(nn.Module):
    """Residual conv units: `n_blocks` x (`n_stages` x [norm, ELU, bias-free 3x3 conv]) with identity skips.

    Layers are registered as '<block>_<stage>_norm' / '<block>_<stage>_conv' (1-based) like the official code,
    which is why official keys contain components such as `1_1_norm`.
    """

    def __init__(self, channels: int, n_blocks: int, n_stages: int, num_classes: int) -> None:
        super().__init__()
        self.act = nn.ELU()
        self.names = [[f"{i}_{j}" for j in range(1, n_stages + 1)] for i in range(1, n_blocks + 1)]
        for block in self.names:
            for name in block:
                self.add_module(f"{name}_norm", CondInstanceNormPlus(channels, num_classes))
                self.add_module(f"{name}_conv", _conv3x3(channels, channels, bias=False))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for block in self.names:
            h = x
            for name in block:
                h = getattr(self, f"{name}_conv")(self.act(getattr(self, f"{name}_norm")(h, y)))
            x = h + x
        return x


class CondMSFBlock(nn.Module):
    """Multi-resolution fusion: per input norm -> biased 3x3 conv -> bilinear resize (align_corners) -> sum."""

    def __init__(self, in_channels: Sequence[int], features: int, num_classes: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv3x3(c, features, bias=True) for c in in_channels)
        self.norms = nn.ModuleList(CondInstanceNormPlus(c, num_classes) for c in in_channels)

    def forward(self, xs: Sequence[torch.Tensor], y: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        out = 0.0
        for x, norm, conv in zip(xs, self.norms, self.convs, strict=True):
            out = out + F.interpolate(conv(norm(x, y)), size=tuple(size), mode="bilinear", align_corners=True)
        return out


class CondCRPBlock(nn.Module):
    """Chained residual pooling: ELU, then stages of norm -> 5x5 average pool -> bias-free conv, accumulated."""

    def __init__(self, features: int, n_stages: int, num_classes: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv3x3(features, features, bias=False) for _ in range(n_stages))
        self.norms = nn.ModuleList(CondInstanceNormPlus(features, num_classes) for _ in range(n_stages))
        self.act = nn.ELU()
        self.pool = nn.AvgPool2d(kernel_size=5, stride=1, padding=2)  # the official attribute is named 'maxpool'

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        path = x
        for norm, conv in zip(self.norms, self.convs, strict=True):
            path = conv(self.pool(norm(path, y)))
            x = path + x
        return x


class CondRefineBlock(nn.Module):
    """RefineNet block: RCUs per input, fusion (if several inputs), chained residual pooling, output RCUs."""

    def __init__(
        self, in_channels: Sequence[int], features: int, num_classes: int, start: bool = False, end: bool = False
    ) -> None:
        super().__init__()
        if start != (len(in_channels) == 1):
            raise ValueError("the first refine block takes one input, the others two")
        self.adapt_convs = nn.ModuleList(CondRCUBlock(c, 2, 2, num_classes) for c in in_channels)
        self.output_convs = CondRCUBlock(features, 3 if end else 1, 2, num_classes)
        self.msf = None if start else CondMSFBlock(in_channels, features, num_classes)
        self.crp = CondCRPBlock(features, 2, num_classes)

    def forward(self, xs: Sequence[torch.Tensor], y: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        hs = [adapt(x, y) for adapt, x in zip(self.adapt_convs, xs, strict=True)]
        h = hs[0] if self.msf is None else self.msf(hs, y, size)
        return self.output_convs(self.crp(h, y), y)


class CondRefineNetDilated(nn.Module):
    """s_theta(x, i): the NCSN score network. `x` in [0, 1] (B, C, H, W) with even H, W; `labels` level indices."""

    def __init__(self, channels: int, ngf: int, num_classes: int = 10) -> None:
        super().__init__()
        self.channels, self.ngf, self.num_classes = channels, ngf, num_classes
        n, w = num_classes, 2 * ngf
        self.act = nn.ELU()
        self.begin_conv = nn.Conv2d(channels, ngf, 3, padding=1)
        self.normalizer = CondInstanceNormPlus(ngf, n)
        self.end_conv = nn.Conv2d(ngf, channels, 3, padding=1)
        self.res1 = nn.ModuleList([ResidualBlock(ngf, ngf, n), ResidualBlock(ngf, ngf, n)])
        self.res2 = nn.ModuleList([ResidualBlock(ngf, w, n, resample=True), ResidualBlock(w, w, n)])
        self.res3 = nn.ModuleList(
            [ResidualBlock(w, w, n, resample=True, dilation=2), ResidualBlock(w, w, n, dilation=2)]
        )
        self.res4 = nn.ModuleList(
            [ResidualBlock(w, w, n, resample=True, dilation=4), ResidualBlock(w, w, n, dilation=4)]
        )
        self.refine1 = CondRefineBlock([w], w, n, start=True)
        self.refine2 = CondRefineBlock([w, w], w, n)
        self.refine3 = CondRefineBlock([w, w], ngf, n)
        self.refine4 = CondRefineBlock([ngf, ngf], ngf, n, end=True)

    @staticmethod
    def _stage(blocks: nn.ModuleList, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for block in blocks:
            x = block(x, y)
        return x

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            raise ValueError(f"CondRefineNetDilated needs even image sizes, got {tuple(x.shape[-2:])}")
        h = self.begin_conv(2 * x - 1)
        layer1 = self._stage(self.res1, h, labels)
        layer2 = self._stage(self.res2, layer1, labels)
        layer3 = self._stage(self.res3, layer2, labels)
        layer4 = self._stage(self.res4, layer3, labels)
        ref = self.refine1([layer4], labels, layer4.shape[2:])
        ref = self.refine2([layer3, ref], labels, layer3.shape[2:])
        ref = self.refine3([layer2, ref], labels, layer2.shape[2:])
        ref = self.refine4([layer1, ref], labels, layer1.shape[2:])
        return self.end_conv(self.act(self.normalizer(ref, labels)))


class LevelScore(nn.Module):
    """Adapts a level-indexed network `net(x, labels)` to the sampler interface `score(x, sigma)`.

    `sigma` is a per-sample tensor [B]; each value is mapped to the nearest training level (in log space),
    so no host synchronisation is needed inside a sampler loop.
    """

    def __init__(self, net: nn.Module, sigmas: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("log_sigmas", torch.as_tensor(sigmas, dtype=torch.float32).log(), persistent=False)

    def labels(self, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=torch.float32, device=self.log_sigmas.device)
        return (sigma.log()[:, None] - self.log_sigmas[None, :]).abs().argmin(dim=1)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.labels(sigma))
