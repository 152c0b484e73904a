"""ncsn/celeba: CelebA (centre crop 140, resized to 32x32) samples and inpainting figures (Fig. 5/6).

Same training and sampling as ncsn/cifar10 (ngf 128, L = 10, 200k steps, flips). The paper reports no number for
CelebA; the measured rows are the held-out DSM loss per level and the NFE, and the figures carry the claim.
At the smoke tier a synthetic stand-in of the same shape replaces the data.
"""

from __future__ import annotations

import numpy as np
import torch

from papers.ncsn.images import (
    annealed_fn,
    grid_figure,
    inpaint,
    inpaint_figure,
    is_synthetic,
    levels,
    load_images,
    load_net,
    sampling_setting,
    test_dsm_rows,
    train_net,
)
from repro.run import Run

SHAPE = (3, 32, 32)


def train(run: Run) -> None:
    train_net(run, "ncsn", load_images(run, "train")[0], levels(run.cfg))


def sample(run: Run) -> None:
    from repro.sampling import sample_shards

    cfg, sigmas = run.cfg, levels(run.cfg)
    net = load_net(run, "ncsn", len(sigmas), SHAPE[0])
    counter: dict = {}
    sample_shards(
        run,
        "samples",
        cfg["n_samples"],
        cfg["sample_batch"],
        annealed_fn(net, sigmas.to(run.device), SHAPE, cfg["sampling"], counter),
    )
    if counter:
        run.save_json("nfe.json", counter)
    test = load_images(run, "test")[0]
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(run.seed))
    rows = inpaint(run, net, sigmas.to(run.device), test[order[: cfg["inpaint"]["n_refs"]]])
    with open(run.path("inpainting.npz"), "wb") as fh:
        np.savez(fh, images=rows)


def evaluate(run: Run) -> None:
    from repro.sampling import load_samples

    cfg, sigmas = run.cfg, levels(run.cfg)
    x = load_samples(run, "samples")
    net = load_net(run, "ncsn", len(sigmas), SHAPE[0])
    rows = test_dsm_rows(run, net, sigmas, load_images(run, "test")[0], "celeba")
    rows.append(
        {
            "dataset": "celeba",
            "setting": sampling_setting(cfg),
            "metric": "nfe",
            "value": float(run.load_json("nfe.json")["nfe"]),
            "stderr": None,
            "unit": "evaluations",
            "n_samples": len(x),
            "seed": run.seed,
        }
    )
    run.save_metrics(rows, synthetic_data=is_synthetic(cfg))
    grid_figure(run, "samples", x, cfg["grid"], "NCSN samples, CelebA 32x32", "Uncurated annealed Langevin samples.")
    inpaint_figure(run, np.load(run.root / "inpainting.npz")["images"], "CelebA")
