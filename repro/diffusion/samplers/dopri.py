"""Adaptive Dormand–Prince 5(4) on the device: scipy's `solve_ivp(method="RK45")` step for step, in torch.

score_sde's ODE sampler calls scipy, which copies the whole batch to the host and back for every evaluation. This
solver keeps the state on its device in float64 and follows scipy's algorithm (initial step selection, error norm,
step-size factors, the first-same-as-last stage), so it takes the same steps and makes the same number of
evaluations up to float rounding; the only host synchronisation is the accept/reject decision of each step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Rhs = Callable[[float, torch.Tensor], torch.Tensor]

# Dormand & Prince (1980), as tabulated in scipy.integrate.RK45.
C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
E = (-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40)
SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0
ERROR_EXPONENT = -1 / 5  # error estimator of order 4


def _rms(v: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(v) / math.sqrt(v.numel())


def _combine(weights: tuple[float, ...], stages: list[torch.Tensor]) -> torch.Tensor:
    """sum_i w_i k_i over as many stages as there are weights (one per stage so far), zero weights skipped.

    The products in one op, then summed in stage order in place: the same roundings as the plain sum.
    """
    used = [(w, k) for w, k in zip(weights, stages, strict=True) if w != 0.0]
    total, *rest = torch._foreach_mul([k for _, k in used], [w for w, _ in used])
    for term in rest:
        total.add_(term)
    return total


def _initial_step(fun: Rhs, t0: float, y0: torch.Tensor, f0: torch.Tensor, span: float, rtol, atol) -> float:
    """Hairer, Nørsett & Wanner's starting step (scipy's `select_initial_step`); one evaluation."""
    direction = math.copysign(1.0, span)
    length = abs(span)
    scale = atol + y0.abs() * rtol
    d0, d1 = float(_rms(y0 / scale)), float(_rms(f0 / scale))
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    h0 = min(h0, length)
    f1 = fun(t0 + h0 * direction, y0 + h0 * direction * f0)
    d2 = float(_rms((f1 - f0) / scale)) / h0
    h1 = max(1e-6, h0 * 1e-3) if d1 <= 1e-15 and d2 <= 1e-15 else (0.01 / max(d1, d2)) ** (1 / 5)
    return min(100 * h0, h1, length)


def dormand_prince(fun: Rhs, t0: float, y0: torch.Tensor, t_end: float, rtol: float, atol: float) -> torch.Tensor:
    """y(t_end) for dy/dt = fun(t, y), y(t0) = y0 (any shape; the error norm is the RMS over all of it)."""
    direction = math.copysign(1.0, t_end - t0)
    t, y = t0, y0
    f = fun(t, y)
    h_abs = _initial_step(fun, t, y, f, t_end - t0, rtol, atol)
    while direction * (t_end - t) > 0:
        min_step = 10 * abs(math.nextafter(t, direction * math.inf) - t)
        h_abs = max(h_abs, min_step)
        rejected = False
        while True:
            if h_abs < min_step:
                raise RuntimeError(f"dormand_prince: the step fell below {min_step:g} at t = {t:g}")
            t_new = t + h_abs * direction
            if direction * (t_new - t_end) > 0:
                t_new = t_end
            h = t_new - t
            h_abs = abs(h)
            stages = [f]
            for c, a in zip(C[1:], A[1:], strict=True):
                stages.append(fun(t + c * h, _combine(a, stages).mul_(h).add_(y)))  # y + h sum_j a_j k_j
            y_new = _combine(B, stages).mul_(h).add_(y)
            f_new = fun(t + h, y_new)
            scale = torch.maximum(y.abs(), y_new.abs()).mul_(rtol).add_(atol)
            error = float(_rms(_combine(E, [*stages, f_new]).mul_(h).div_(scale)))  # the step's one host sync
            if error < 1:
                factor = MAX_FACTOR if error == 0 else min(MAX_FACTOR, SAFETY * error**ERROR_EXPONENT)
                h_abs *= min(1.0, factor) if rejected else factor
                break
            h_abs *= max(MIN_FACTOR, SAFETY * error**ERROR_EXPONENT)
            rejected = True
        t, y, f = t_new, y_new, f_new
    return y
