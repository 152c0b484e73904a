"""Gaussian diffusion (Sohl-Dickstein et al. 2015): forward kernel, learned or fixed beta, reverse model, bound K.

All quantities are in nats per example (summed over dimensions); `bits` helpers divide by ln 2.

Bound (per example x0, exact decomposition, App. B):
    K(x0) = -sum_{t=2..T} E_{x_t|x0} KL(q(x_{t-1}|x_t,x0) || p(x_{t-1}|x_t))
            + H_q(X_T|x0) - H_q(X_1|x0) + E_{x_T|x0} log pi(x_T) + log pi(x0) - E_{x_1|x0} log pi(x_1).
The paper writes the last three terms as -H_p(X_T); they are equal in expectation for unit-variance data
(App. A), and keeping them makes K a lower bound for any data. The last reverse step p(x0|x1) is fixed to the
time reversal of the first forward step, N(sqrt(1-beta_1) x1, beta_1), and never learned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

LOG2PI = math.log(2 * math.pi)


def fixed_betas(T: int, beta1: float) -> torch.Tensor:
    """beta_t = 1/(T-t+1) (the binomial-style schedule of footnote 2) with beta_1 replaced by `beta1`; float64."""
    t = torch.arange(1, T + 1, dtype=torch.float64)
    b = 1.0 / (T - t + 1)
    b[0] = beta1
    return b


class Schedule(nn.Module):
    """beta_1 fixed; beta_2..T either fixed or learned as logit perturbations of the fixed schedule."""

    def __init__(self, T: int, beta1: float, learned: bool, beta_max: float = 1 - 1e-5) -> None:
        super().__init__()
        if T < 2 or not 0 < beta1 < 1:
            raise ValueError(f"need T >= 2 and 0 < beta1 < 1, got T={T}, beta1={beta1}")
        self.T = T
        self.register_buffer("logit_base", torch.logit(fixed_betas(T, beta1).clamp(1e-8, beta_max)))
        self.delta = nn.Parameter(torch.zeros(T - 1)) if learned else None

    def betas(self) -> torch.Tensor:
        """[T] float64, index t-1 holds beta_t."""
        logits = self.logit_base
        if self.delta is not None:
            logits = torch.cat([logits[:1], logits[1:] + self.delta.double()])
        return torch.sigmoid(logits)


def gaussian_kl(mu_q: torch.Tensor, var_q: torch.Tensor, mu_p: torch.Tensor, var_p: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(N(mu_q, var_q) || N(mu_p, var_p)) in nats."""
    return 0.5 * (torch.log(var_p / var_q) + (var_q + (mu_q - mu_p) ** 2) / var_p - 1.0)


def gaussian_entropy(var: torch.Tensor) -> torch.Tensor:
    """Differential entropy of a scalar N(., var) in nats."""
    return 0.5 * (1.0 + LOG2PI + torch.log(var))


def log_std_normal(x: torch.Tensor) -> torch.Tensor:
    """log N(x; 0, I) per example (summed over all but dim 0)."""
    return (-0.5 * (LOG2PI + x**2)).flatten(1).sum(1)


class GaussianDiffusion(nn.Module):
    """Forward Gaussian diffusion to N(0, I) and a learned Gaussian reverse with diagonal covariance.

    `net(x_t, t) -> (z_mu, z_sigma)`, each shaped like x_t. Reverse covariance Sigma = sigmoid(z_sigma + logit beta_t).
    Mean parameterisation `mean_param`:
      'forward': mu = sqrt(1-beta_t) x_t + sqrt(beta_t) z_mu  (zero readout = the forward kernel, as in the
                 reference code);
      'paper':   mu = (x_t - z_mu)(1 - Sigma) + z_mu          (App. D.2).
    """

    def __init__(self, net: nn.Module, schedule: Schedule, mean_param: str = "forward") -> None:
        super().__init__()
        if mean_param not in ("forward", "paper"):
            raise ValueError(f"mean_param must be 'forward' or 'paper', got {mean_param!r}")
        self.net, self.schedule, self.mean_param = net, schedule, mean_param
        self.T = schedule.T

    def coefs(self) -> dict[str, torch.Tensor]:
        b = self.schedule.betas()
        abar = torch.cumprod(1 - b, 0)
        return {"beta": b, "abar": abar}

    @staticmethod
    def _at(v: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """v[t-1] per sample, float32, broadcast to `like`."""
        return v[t - 1].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def reverse(self, x_t: torch.Tensor, t: torch.Tensor, c: dict[str, torch.Tensor] | None = None):
        """Mean and variance of p(x_{t-1} | x_t) for t >= 2."""
        c = c or self.coefs()
        beta = self._at(c["beta"], t, x_t)
        z_mu, z_sig = self.net(x_t, t)
        var = torch.sigmoid(z_sig + torch.logit(beta))
        if self.mean_param == "forward":
            mu = torch.sqrt(1 - beta) * x_t + torch.sqrt(beta) * z_mu
        else:
            mu = (x_t - z_mu) * (1 - var) + z_mu
        return mu, var

    def posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, c: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x0) for t >= 2."""
        c = c or self.coefs()
        beta, abar = self._at(c["beta"], t, x0), self._at(c["abar"], t, x0)
        abar_prev = self._at(c["abar"], t - 1, x0)
        var = beta * (1 - abar_prev) / (1 - abar)
        return var * (torch.sqrt(abar_prev) * x0 / (1 - abar_prev) + torch.sqrt(1 - beta) * x_t / beta), var

    def kl_terms(
        self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, c: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """KL(q(x_{t-1}|x_t,x0) || p(x_{t-1}|x_t)) per example, x_t = sqrt(abar_t) x0 + sqrt(1-abar_t) eps; t >= 2."""
        c = c or self.coefs()
        abar = self._at(c["abar"], t, x0)
        x_t = torch.sqrt(abar) * x0 + torch.sqrt(1 - abar) * eps
        mu_q, var_q = self.posterior(x0, x_t, t, c)
        mu_p, var_p = self.reverse(x_t, t, c)
        return gaussian_kl(mu_q, var_q, mu_p, var_p).flatten(1).sum(1)

    def edge_terms(self, x0: torch.Tensor, c: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """H_q(X_T|x0) - H_q(X_1|x0) + E log pi(x_T) + log pi(x0) - E log pi(x_1), per example, in nats."""
        c = c or self.coefs()
        d = x0[0].numel()
        b1, abar_T = c["beta"][0].float(), c["abar"][-1].float()
        ent = d * (gaussian_entropy(1 - abar_T) - gaussian_entropy(b1))
        sq = (x0**2).flatten(1).sum(1)
        cross = -0.5 * d * LOG2PI - 0.5 * ((abar_T + b1) * sq + d * (1 - abar_T - b1))
        return ent + cross

    def loss(self, x0: torch.Tensor) -> torch.Tensor:
        """-K per dimension (nats), one stratified random t in 2..T per example, KL scaled by T-1 (unbiased)."""
        B = x0.shape[0]
        u = (torch.randperm(B, device=x0.device) + torch.rand((), device=x0.device)) / B
        t = 2 + (u * (self.T - 1)).long().clamp(max=self.T - 2)
        c = self.coefs()
        k = self.edge_terms(x0, c) - (self.T - 1) * self.kl_terms(x0, t, torch.randn_like(x0), c)
        return -k.mean() / x0[0].numel()

    @torch.no_grad()
    def bound(self, x0: torch.Tensor, t_chunk: int = 50, n_t: int = 0) -> torch.Tensor:
        """Per-example K (nats), one x_t draw per (example, t).

        n_t = 0: exact sum over every t = 2..T. n_t > 0: n_t stratified random steps per example, KL scaled by
        (T-1)/n_t (unbiased; for image models where the exact sum is too costly).
        """
        c = self.coefs()
        total = self.edge_terms(x0, c)
        B = x0.shape[0]
        if n_t:
            u = (torch.arange(n_t, device=x0.device)[:, None] + torch.rand(n_t, B, device=x0.device)) / n_t
            steps = 2 + (u * (self.T - 1)).long().clamp(max=self.T - 2)  # [n_t, B]
            scale = (self.T - 1) / n_t
        else:
            steps = torch.arange(2, self.T + 1, device=x0.device)[:, None].expand(-1, B)
            scale = 1.0
        for lo in range(0, steps.shape[0], t_chunk):
            tt = steps[lo : lo + t_chunk]
            xx = x0.repeat(tt.shape[0], *([1] * (x0.dim() - 1)))
            kl = self.kl_terms(xx, tt.reshape(-1), torch.randn_like(xx), c)
            total = total - scale * kl.view(tt.shape[0], B).sum(0)
        return total

    @torch.no_grad()
    def trajectory(
        self,
        x_T: torch.Tensor,
        noise: Callable[[torch.Tensor], torch.Tensor] = torch.randn_like,
        known: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        obs_var: float | None = None,
    ) -> Iterator[torch.Tensor]:
        """Ancestral reverse diffusion from x_T, yielding x_{T-1}, ..., x_0; optional posterior sampling (Sec. 2.5).

        Inpainting: `mask` (1 = known) and `known` values are clamped at every step (r(x_t) = r(x_0)).
        Denoising: `observed` y with Gaussian noise variance `obs_var`; each step's mean is shifted by
        Sigma * grad log r(mu) = Sigma (y - mu) / obs_var (Eq. 61), with the same r at every t.
        """
        c = self.coefs()
        x = x_T if mask is None else torch.where(mask.bool(), known, x_T)
        B = x.shape[0]
        for step in range(self.T, 0, -1):
            t = torch.full((B,), step, device=x.device, dtype=torch.long)
            if step > 1:
                mu, var = self.reverse(x, t, c)
            else:  # the fixed last step: time reversal of the first forward step
                var = c["beta"][0].to(x.dtype).expand_as(x)
                mu = torch.sqrt(1 - var) * x
            if observed is not None:
                mu = mu + var * (observed - mu) / obs_var
            x = mu + torch.sqrt(var) * noise(x)
            if mask is not None:
                x = torch.where(mask.bool(), known, x)
            yield x

    def sample(
        self, x_T: torch.Tensor, noise: Callable[[torch.Tensor], torch.Tensor] = torch.randn_like, **posterior
    ) -> torch.Tensor:
        """x_0 by ancestral reverse diffusion from x_T (keyword arguments as in `trajectory`)."""
        x = x_T
        for x in self.trajectory(x_T, noise, **posterior):  # noqa: B007 (the last state is the sample)
            pass
        return x


def bits(nats: torch.Tensor | float) -> torch.Tensor | float:
    return nats / math.log(2)
