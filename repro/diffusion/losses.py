"""Score-matching objectives: NCSN's multi-level DSM, score_sde's continuous VE DSM, sliced score matching.

Randomness (levels, perturbations, projections) comes from the global torch RNG, which `repro.train` saves and
restores, so a resumed training run is bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from repro.diffusion.sde import VESDE

__all__ = ["dsm_loss", "sliced_score_matching_vr", "ve_dsm_loss"]


def dsm_loss(
    net: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    labels: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    anneal_power: float = 2.0,
) -> torch.Tensor:
    """NCSN objective (Song & Ermon 2019, Eq. 6) with lambda(sigma) = sigma^anneal_power (2 in the paper).

    Each sample gets its own level index, uniform over the levels unless `labels` is given; x~ = x + sigma z and
    the per-sample loss is 1/2 ||s(x~, i) + (x~ - x) / sigma^2||^2 (summed over dimensions) * lambda(sigma),
    averaged over the batch. `net(x~, labels)` takes level indices (0 = first entry of `sigmas`).
    """
    sigmas = torch.as_tensor(sigmas, dtype=x.dtype, device=x.device)
    if labels is None:
        labels = torch.randint(0, len(sigmas), (x.shape[0],), device=x.device)
    if noise is None:
        noise = torch.randn_like(x)
    used = sigmas[labels].view(-1, *([1] * (x.dim() - 1)))
    perturbed = x + used * noise
    target = -(perturbed - x) / used**2
    per_sample = 0.5 * (net(perturbed, labels) - target).pow(2).flatten(1).sum(1)
    return (per_sample * used.flatten() ** anneal_power).mean()


def ve_dsm_loss(sde: VESDE, eps: float = 1e-5) -> Callable:
    """score_sde's continuous VE objective (`get_sde_loss_fn` for a VE SDE) as a `loss_fn(model, batch)`.

    t ~ U(eps, 1), sigma = sde.sigma(t), x~ = x + sigma z; per sample ||sigma s(x~, sigma) + z||^2 summed over
    dimensions (lambda(sigma) = sigma^2, no 1/2, as score_sde), batch mean. A (images, labels) batch uses the
    images only.
    """

    def loss(model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batch) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        t = eps + (1 - eps) * torch.rand(x.shape[0], device=x.device, dtype=x.dtype)
        sigma = sde.sigma(t).view(-1, *([1] * (x.dim() - 1)))
        z = torch.randn_like(x)
        return (sigma * model(x + sigma * z, sigma.flatten()) + z).square().flatten(1).sum(1).mean()

    return loss


def sliced_score_matching_vr(
    score: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, n_projections: int = 1
) -> torch.Tensor:
    """Variance-reduced sliced score matching (Song et al. 2019): E[1/2 ||s(x)||^2 + v^T (ds/dx) v], v ~ N(0, I).

    `x` is [B, D]; the trace term uses one Hessian-vector product per projection, with a graph so the loss
    can be differentiated with respect to the parameters of `score`.
    """
    if x.dim() != 2:
        raise ValueError(f"sliced score matching expects [batch, dim] data, got shape {tuple(x.shape)}")
    xs = x.detach().repeat(n_projections, 1).requires_grad_(True)
    v = torch.randn_like(xs)
    s = score(xs)
    (grad_v,) = torch.autograd.grad((s * v).sum(), xs, create_graph=True)
    per_sample = 0.5 * s.pow(2).sum(1) + (v * grad_v).sum(1)
    return per_sample.mean()
