"""Sohl-Dickstein image experiments: Parzen sample-quality rows and their sanity rows (MNIST, dead leaves)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from papers.sohl import deadleaves, images
from repro import config, typed
from repro.metrics.parzen import parzen_evaluate
from repro.metrics.sanity import matched_noise
from repro.run import Run
from repro.sampling import sample_shards, to_uint8

SIGMAS = (0.1, 0.2, 0.4)


pytestmark = pytest.mark.usefixtures("one_thread")


def smoke_run(tmp_path: Path) -> Run:
    cfg = typed.build(images.Config, config.load("sohl", "deadleaves", "smoke"), "smoke")
    return Run("sohl", "deadleaves", "smoke", cfg, runs_root=tmp_path / "runs", data_root=tmp_path / "data")


def test_dead_leaves_validation_split_is_a_fresh_draw_of_the_test_size(tmp_path):
    d = deadleaves.load(smoke_run(tmp_path))
    assert d.valid.shape == d.test.shape
    for other in (d.test, d.train[: len(d.valid)]):
        assert not torch.equal(d.valid, other)


def test_training_images_as_samples_score_exactly_the_real_row_and_noise_scores_lower(tmp_path):
    """Samples equal to the first training images are the sanity=real centres: the same protocol gives one number."""
    run = smoke_run(tmp_path)
    d = deadleaves.load(run)
    n = run.cfg.n_samples
    fed = iter(range(0, n, run.cfg.sample_batch))

    def copy_train(gen, m: int) -> torch.Tensor:
        lo = next(fed)
        return to_uint8(d.train[lo : lo + m])

    sample_shards(run, "samples", n=n, batch_size=run.cfg.sample_batch, fn=copy_train)
    rows = {r.setting.get("sanity", r.setting.get("model")): r for r in images.parzen_rows(run, d, SIGMAS)}
    assert set(rows) == {"diffusion", "real", "noise"}
    assert {r.metric for r in rows.values()} == {"parzen_loglik"}
    assert rows["diffusion"].value == pytest.approx(rows["real"].value, abs=1e-6)
    noise = matched_noise(d.train, n, run.seed).flatten(1)
    assert rows["noise"].value == pytest.approx(parzen_evaluate(noise, d.valid, d.test, SIGMAS).mean_bits)
    assert rows["noise"].value < rows["real"].value
    assert rows["noise"].n_samples == rows["real"].n_samples == n
