"""Adaptive Dormand–Prince 5(4) on the device: scipy's `solve_ivp(method="RK45")` step for step, in torch.

score_sde's ODE sampler calls scipy, which copies the whole batch to the host and back for every evaluation. This
solver keeps the state on its device and follows scipy's algorithm (initial step selection, error norm, step-size
factors, the first-same-as-last stage), so it takes the same steps and makes the same number of evaluations up to
float rounding; the only host synchronisation is the accept/reject decision of each step.

Speed: the stages live in one [7, n] buffer, so every stage's state y + h sum_j a_j k_j is one matrix-vector
product (`addmv`, scipy's `np.dot` too), the error estimate is one more into the stage buffer, and the right-hand
side writes its slope straight into its row. A step is then eight ops besides its six evaluations and their
right-hand sides (the plain per-stage sums took over a hundred).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch

Rhs = Callable[[float, torch.Tensor, torch.Tensor], None]  # fun(t, y, out) writes dy/dt into out (keeps neither)

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


@functools.cache
def _weights(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The rows A_2..A_6, B and E as tensors, made once per dtype and device: otherwise every solve paid seven
    small host-to-device copies (each a host wait on a GPU). Made outside inference mode so that a solve under
    autograd can use them too; nothing writes into them."""
    with torch.inference_mode(False):
        return tuple(torch.tensor(w, dtype=dtype, device=device) for w in (*A[1:], B, E))


def _rms(v: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(v)) / math.sqrt(v.numel())


def _initial_step(
    fun: Rhs, t0: float, y0: torch.Tensor, f0: torch.Tensor, span: float, rtol, atol, scratch: torch.Tensor
) -> float:
    """Hairer, Nørsett & Wanner's starting step (scipy's `select_initial_step`); one evaluation, into `scratch`."""
    direction = math.copysign(1.0, span)
    length = abs(span)
    scale = atol + y0.abs() * rtol
    d0, d1 = _rms(y0 / scale), _rms(f0 / scale)
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    h0 = min(h0, length)
    fun(t0 + h0 * direction, torch.add(y0, f0, alpha=h0 * direction), scratch)
    d2 = _rms((scratch - f0) / scale) / h0
    h1 = max(1e-6, h0 * 1e-3) if d1 <= 1e-15 and d2 <= 1e-15 else (0.01 / max(d1, d2)) ** (1 / 5)
    return min(100 * h0, h1, length)


def dormand_prince(fun: Rhs, t0: float, y0: torch.Tensor, t_end: float, rtol: float, atol: float) -> torch.Tensor:
    """y(t_end) for dy/dt = fun(t, y), y(t0) = y0 (any shape; the error norm is the RMS over all of it)."""
    direction = math.copysign(1.0, t_end - t0)
    like = dict(dtype=y0.dtype, device=y0.device)
    k = torch.empty(7, *y0.shape, **like)  # the step's stages; k[6] = f(t + h, y_new), the next step's k[0]
    stages, flat = k.unbind(0), k.view(7, -1)
    # stage i's state is y + h (A_i . k[:i]); the sixth "stage" is y_new with the weights B
    *stage_weights, error_weights = _weights(y0.dtype, y0.device)
    sums = [(flat[: len(w)].T, w) for w in stage_weights]
    y, y_new, y_stage = y0.clone(), torch.empty_like(y0), torch.empty_like(y0)
    flat_y, flat_new, flat_stage = y.view(-1), y_new.view(-1), y_stage.view(-1)
    t = t0
    fun(t, y, stages[0])
    h_abs = _initial_step(fun, t, y, stages[0], t_end - t0, rtol, atol, stages[1])
    abs_y = y.abs()
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
            for i, (c, (mat, w)) in enumerate(zip(C[1:], sums[:-1], strict=True), start=1):
                torch.addmv(flat_y, mat, w, alpha=h, out=flat_stage)
                fun(t + c * h, y_stage, stages[i])
            mat, w = sums[-1]
            torch.addmv(flat_y, mat, w, alpha=h, out=flat_new)
            fun(t + h, y_new, stages[6])
            # scipy's error norm, RMS of h (K^T E) / (atol + rtol max(|y|, |y_new|)), with rtol divided out of both
            abs_new = y_new.abs()
            scale = torch.maximum(abs_y, abs_new).add_(atol / rtol)
            flat_stage.addmv_(flat.T, error_weights, beta=0, alpha=h / rtol)  # the stage state is free by now
            error = _rms(flat_stage.div_(scale.view(-1)))  # the step's one host sync
            if error < 1:
                factor = MAX_FACTOR if error == 0 else min(MAX_FACTOR, SAFETY * error**ERROR_EXPONENT)
                h_abs *= min(1.0, factor) if rejected else factor
                break
            h_abs *= max(MIN_FACTOR, SAFETY * error**ERROR_EXPONENT)
            rejected = True
        t, y, y_new, flat_y, flat_new, abs_y = t_new, y_new, y, flat_new, flat_y, abs_new
        if direction * (t_end - t) > 0:  # first same as last: the next step's k[0]
            stages[0].copy_(stages[6])
    return y
