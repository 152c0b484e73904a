"""GPU speed options for training and sampling: TF32, channels_last, torch.compile.

Every option is off by default because each can change the numbers (TF32 rounds matmul/conv inputs to a 10-bit
mantissa; channels_last and compile pick other kernels, so float sums are reordered). On a CPU they are no-ops
(TF32, CUDA graphs) or run correctly (channels_last, compile), so configs stay portable.

`compile` takes False (off), True / "default" (inductor), an inductor mode ("reduce-overhead" uses CUDA graphs,
"max-autotune", "max-autotune-no-cudagraphs"), or a debugging backend ("eager", "aot_eager": dynamo tracing
without code generation, fast to start, no speed-up). Inductor on a CPU compiles C++ and takes about a minute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
COMPILE_BACKENDS = ("eager", "aot_eager")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def check_compile_option(value: bool | str, where: str = "compile") -> None:
    """Raise a ValueError naming `where` unless `value` is a known compile option."""
    if isinstance(value, bool) or value in COMPILE_MODES or value in COMPILE_BACKENDS:
        return
    raise ValueError(
        f"{where}: unknown torch.compile option {value!r}; use false, true, one of the modes "
        f"{COMPILE_MODES} or a debugging backend {COMPILE_BACKENDS}"
    )


def compile_fn(fn: Callable, option: bool | str) -> Callable:
    """`fn` compiled as `option` says (see the module docstring); `fn` itself when the option is False."""
    check_compile_option(option)
    if option is False:
        return fn
    if option in COMPILE_BACKENDS:
        return torch.compile(fn, backend=option)
    return torch.compile(fn, mode=None if option is True or option == "default" else option)


REDUCED_PRECISION = ("bf16", "tf32")  # the options that change the arithmetic (channels_last, compile reorder sums)


def reduced_precision(settings: Any) -> list[str]:
    """The reduced-precision options switched on anywhere in a config's settings (nested sections included),
    sorted: a metric row records them, so a row of a bf16 or TF32 run is never taken for an fp32 one."""
    found: set[str] = set()
    stack = [settings]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.update(k for k in REDUCED_PRECISION if node.get(k) is True)
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return sorted(found)


def set_tf32(enabled: bool) -> None:
    """TF32 for float32 matmuls and cuDNN convolutions on CUDA (Ampere or newer); `False` means strict IEEE fp32.

    PyTorch's own default lets cuDNN convolutions use TF32; here off means off for both. No effect on a CPU.
    """
    precision = "tf32" if enabled else "ieee"
    if hasattr(torch.backends, "fp32_precision"):  # torch >= 2.9: the legacy allow_tf32 flags must not be mixed in
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
    else:  # pragma: no cover - older torch
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def prepare_for_inference(model: nn.Module, *, channels_last: bool = False, compile: bool | str = False) -> Callable:
    """The model in eval mode without parameter gradients, optionally channels_last and compiled.

    Returns a callable with the model's forward signature (the compiled wrapper when `compile` is set; it
    recompiles once per new input shape, so keep sampling batches a fixed size). With the CUDA-graph modes
    ("reduce-overhead", "max-autotune") the sampler loop must not synchronise with the host per step (ours do
    not) for the graphs to pay off, and each output is copied out of the graph's buffer, because samplers such
    as Heun keep one score while computing the next and a graph replay would overwrite it.
    """
    check_compile_option(compile)
    model.eval().requires_grad_(False)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    fn = compile_fn(model, compile)
    if compile in CUDA_GRAPH_MODES:
        return lambda *args, **kwargs: fn(*args, **kwargs).clone()
    return fn


def autocast(enabled: bool, device: torch.device):
    """bf16 autocast on CUDA when enabled; a disabled (no-op) context elsewhere."""
    return torch.autocast(
        device.type if device.type == "cuda" else "cpu", dtype=torch.bfloat16, enabled=enabled and device.type == "cuda"
    )
