"""ncsn/celeba: CelebA (centre crop 140, resized to 32x32) samples and inpainting figures (Fig. 5/6).

Same training and sampling as ncsn/cifar10 (ngf 128, L = 10, 200k steps, flips; the keys of
`papers.ncsn.images.InpaintingConfig`), without the checkpoint selection. The paper reports no number for
CelebA; the measured rows are the held-out DSM loss per level and the NFE, and the figures carry the claim.
At the smoke tier a synthetic stand-in of the same shape replaces the data.
"""

from __future__ import annotations

from dataclasses import dataclass

from papers.ncsn import images
from papers.ncsn.images import Annealed, InpaintingConfig
from papers.ncsn.images import train_ncsn as train
from repro.config import read_from
from repro.run import Run
from repro.work import Work

__all__ = ["Config", "evaluate", "sample", "train", "work"]

SHAPE = (3, 32, 32)


@dataclass(frozen=True, kw_only=True)
class Config(InpaintingConfig):
    """The keys of `InpaintingConfig`; with no select stage, the sampler and its batch size are read only when
    sampling (ncsn/cifar10's select stage reads them, so they are marked here, not in the shared class)."""

    sampling: Annealed = read_from("sample")
    sample_batch: int = read_from("sample")


def sample(run: Run) -> None:
    net = images.load_net(run, "ncsn", run.cfg.n_levels, SHAPE[0])
    images.sample_and_inpaint(run, net, SHAPE, refs_split="test")


def evaluate(run: Run) -> None:
    from repro.sampling import load_samples

    x = load_samples(run, "samples")
    net = images.load_net(run, "ncsn", run.cfg.n_levels, SHAPE[0])
    rows = images.test_dsm_rows(run, net, images.levels(run.cfg), images.load_images(run, "test")[0])
    rows.append(images.nfe_row(run, images.sampling_setting(run.cfg), len(x)))
    images.save_results(run, rows, x, "CelebA", "NCSN samples, CelebA 32x32")


def work(cfg: Config) -> list[Work]:
    """DSM training, the samples and inpaintings, the held-out DSM loss. Left out: data loading, DSM and sampler
    arithmetic, the level lookup of `LevelScore`, checkpoint reads and writes."""
    net = images.score_net(cfg, cfg.n_levels, SHAPE)
    return [
        images.train_work(cfg, net, "DSM"),
        *images.sample_and_inpaint_work(cfg, net),
        images.held_out_dsm_work(cfg, net),
    ]
