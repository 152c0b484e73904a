"""Evaluation speed: Inception feature extraction samples/s, and that a second evaluation reuses the cached
reference statistics instead of recomputing them.

The real path (`repro.metrics.fidelity.fidelity_metrics` -> torch-fidelity's `inception-v3-compat`) runs on random
uint8 images. The Inception weights cannot be downloaded here, so unless `--weights` names the real file the
benchmark writes random weights in the real file's layout (torch-fidelity's own module, its state dict saved):
the arithmetic, and so the timing, is the real one; the metric values are meaningless and not reported.

    python -m bench.fid [--samples 200] [--reference 400] [--weights PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench import Result, device, emit
from repro.metrics.fidelity import Reference, fidelity_metrics

SOURCE = "bench.fid"


def random_inception_weights(path: Path) -> Path:
    """torch-fidelity's Inception module with its initial (random) weights, saved as its weights file."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # build the layers, load nothing
            return None

    empty = path.with_name("empty.pt")
    torch.save({}, empty)
    module = _Unloaded("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(empty))
    torch.save(module.state_dict(), path)
    return path


def eval_results(n_samples: int, n_reference: int, weights: Path | None, batch: int) -> list[Result]:
    dev = device()
    rng = np.random.default_rng(0)
    samples = rng.integers(0, 256, (n_samples, 32, 32, 3), dtype=np.uint8)
    reference = rng.integers(0, 256, (n_reference, 32, 32, 3), dtype=np.uint8)
    loads = []

    def load() -> np.ndarray:
        loads.append(1)
        return reference

    ref = Reference("bench-random", "train", n_reference, load)
    with tempfile.TemporaryDirectory() as tmp:
        w = weights or random_inception_weights(Path(tmp) / "inception.pt")

        def evaluate() -> float:
            t0 = time.perf_counter()
            fidelity_metrics(
                samples,
                ref,
                protocol_n=n_samples,
                cache_root=Path(tmp) / "cache",
                metrics=("isc", "fid"),
                weights_path=w,
                device=dev,
                batch_size=batch,
            )
            return time.perf_counter() - t0

        first = evaluate()
        loads_first = len(loads)
        second = evaluate()
    loads_second = len(loads) - loads_first
    note = f"{n_samples} samples, {n_reference} reference images, 32x32 -> 299, batch {batch}, {dev.type}"
    return [
        Result("eval", "inception features (cache hit)", "samples/s", n_samples / second, "samples/s", note),
        Result(
            "eval",
            "inception features (reference, first run)",
            "images/s",
            n_reference / max(first - second, 1e-9),
            "images/s",
            note,
        ),
        Result("eval", "second evaluation / first", "wall ratio", second / first, "ratio", note),
        Result(
            "eval",
            "reference loads on the second evaluation",
            "count",
            float(loads_second),
            "loads",
            f"first evaluation loaded the reference {loads_first}x; 0 means the cached statistics were used",
        ),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--reference", type=int, default=400)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--weights", type=Path, default=None, help="the real pt_inception-2015-12-05 weights file")
    args = p.parse_args()
    emit(eval_results(args.samples, args.reference, args.weights, args.batch), SOURCE)


if __name__ == "__main__":
    main()
