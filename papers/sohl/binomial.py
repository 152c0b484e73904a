"""Binomial diffusion for binary data (Sec. 2.1, App. B): kernel x(1-beta) + p beta, beta_t = 1/(T-t+1).

The kernel mixes toward Bernoulli(p) per bit. For the heartbeat we use p = 0.2, not the p = 0.5 of the
paper's generic kernel table: App. D.1.2 starts the reverse process from Bernoulli(0.2), and Table 1's null
(-14.439 bits/sequence = 20 H_b(0.2)) only matches p = 0.2. With beta_T = 1 the forward chain reaches
pi = Bernoulli(p) exactly. The kernel is reversible w.r.t. pi, so the fixed last reverse step (time reversal of
the first forward step) is the forward kernel itself.

Reverse model: P(x_{t-1}=1 | x_t) = sigmoid(logit(x_t (1-beta_t) + p beta_t) + z), z = net(x_t, t): a perturbation
of the forward kernel (zero readout = the forward kernel). Bound as in `gaussian.py`, with Bernoulli terms.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def binomial_betas(T: int) -> torch.Tensor:
    """beta_t = 1/(T-t+1), float64 [T]; abar_t = (T-t)/T."""
    return 1.0 / (T - torch.arange(1, T + 1, dtype=torch.float64) + 1)


def bernoulli_entropy(q: torch.Tensor) -> torch.Tensor:
    """H_b(q) in nats, elementwise, 0 at q in {0, 1}."""
    return -(torch.xlogy(q, q) + torch.xlogy(1 - q, 1 - q))


def bernoulli_kl_logits(q: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(Bernoulli(q) || Bernoulli(sigmoid(logits))) in nats, elementwise, stable for q in {0, 1}."""
    return -bernoulli_entropy(q) - q * F.logsigmoid(logits) - (1 - q) * F.logsigmoid(-logits)


class BinomialDiffusion(nn.Module):
    def __init__(self, net: nn.Module, T: int, p: float) -> None:
        super().__init__()
        if T < 2 or not 0 < p < 1:
            raise ValueError(f"need T >= 2 and 0 < p < 1, got T={T}, p={p}")
        self.net, self.T, self.p = net, T, p
        beta = binomial_betas(T)
        self.register_buffer("beta", beta.float())
        self.register_buffer("abar", torch.cumprod(1 - beta, 0).float())

    def marginal(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_t = 1 | x0) = abar_t x0 + (1 - abar_t) p, for t >= 0 (abar_0 = 1)."""
        abar = torch.cat([self.abar.new_ones(1), self.abar])[t].view(-1, *([1] * (x0.dim() - 1)))
        return abar * x0 + (1 - abar) * self.p

    def forward_prob(self, x_prev: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_t = 1 | x_{t-1}) = x_{t-1}(1 - beta_t) + p beta_t."""
        beta = self.beta[t - 1].view(-1, *([1] * (x_prev.dim() - 1)))
        return x_prev * (1 - beta) + self.p * beta

    def posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_{t-1} = 1 | x_t, x0) for t >= 2."""
        prev = self.marginal(x0, t - 1)
        up1 = self.forward_prob(torch.ones_like(x_t), t)
        up0 = self.forward_prob(torch.zeros_like(x_t), t)
        xt = x_t
        lik1 = xt * up1 + (1 - xt) * (1 - up1)
        lik0 = xt * up0 + (1 - xt) * (1 - up0)
        return lik1 * prev / (lik1 * prev + lik0 * (1 - prev))

    def reverse_logits(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        base = torch.logit(self.forward_prob(x_t, t))
        return base + self.net(x_t, t)[0]

    def kl_terms(self, x0: torch.Tensor, t: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Per-example KL at x_t ~ q(x_t | x0) drawn with uniforms `u`; t >= 2."""
        x_t = (u < self.marginal(x0, t)).to(x0.dtype)
        q = self.posterior(x0, x_t, t)
        return bernoulli_kl_logits(q, self.reverse_logits(x_t, t)).flatten(1).sum(1)

    def edge_terms(self, x0: torch.Tensor) -> torch.Tensor:
        """H_q(X_T|x0) - H_q(X_1|x0) + E log pi(x_T) + log pi(x0) - E log pi(x_1), per example, nats."""
        B = x0.shape[0]
        ones = torch.ones(B, dtype=torch.long, device=x0.device)
        q1, qT = self.marginal(x0, ones), self.marginal(x0, ones * self.T)
        terms = bernoulli_entropy(qT) - bernoulli_entropy(q1) + self._cross(qT) + self._cross(x0) - self._cross(q1)
        return terms.flatten(1).sum(1)

    def _cross(self, q: torch.Tensor) -> torch.Tensor:
        """E log pi(x) for x ~ Bernoulli(q), elementwise."""
        return q * math.log(self.p) + (1 - q) * math.log1p(-self.p)

    def log_null(self, x0: torch.Tensor) -> torch.Tensor:
        """log pi(x0) per example, nats: independent Bernoulli(p) bits."""
        return self._cross(x0).flatten(1).sum(1)

    def loss(self, x0: torch.Tensor) -> torch.Tensor:
        """-K per sequence (nats), one stratified random t in 2..T per example, KL scaled by T-1."""
        B = x0.shape[0]
        v = (torch.randperm(B, device=x0.device) + torch.rand((), device=x0.device)) / B
        t = 2 + (v * (self.T - 1)).long().clamp(max=self.T - 2)
        k = self.edge_terms(x0) - (self.T - 1) * self.kl_terms(x0, t, torch.rand_like(x0))
        return -k.mean()

    @torch.no_grad()
    def bound(self, x0: torch.Tensor, t_chunk: int = 50) -> torch.Tensor:
        """Per-example K (nats): exact sum over every t = 2..T, one x_t draw per t."""
        total = self.edge_terms(x0)
        for lo in range(2, self.T + 1, t_chunk):
            ts = torch.arange(lo, min(lo + t_chunk, self.T + 1), device=x0.device)
            xx = x0.repeat(len(ts), *([1] * (x0.dim() - 1)))
            kl = self.kl_terms(xx, ts.repeat_interleave(x0.shape[0]), torch.rand_like(xx))
            total = total - kl.view(len(ts), x0.shape[0]).sum(0)
        return total

    @torch.no_grad()
    def sample(self, x_T: torch.Tensor, uniform: Callable[[torch.Tensor], torch.Tensor] = torch.rand_like):
        """Ancestral sampling from binary x_T ~ Bernoulli(p); the last step is the fixed forward kernel."""
        x = x_T
        B = x.shape[0]
        for step in range(self.T, 1, -1):
            t = torch.full((B,), step, device=x.device, dtype=torch.long)
            x = (uniform(x) < torch.sigmoid(self.reverse_logits(x, t))).to(x.dtype)
        one = torch.ones(B, device=x.device, dtype=torch.long)
        return (uniform(x) < self.forward_prob(x, one)).to(x.dtype)
