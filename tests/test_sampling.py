"""Sharded sampling: one seed per sample (batch-size independent), resume at the next missing shard."""

import numpy as np
import pytest
import torch

from repro.rng import StackedGenerator
from repro.run import Run
from repro.sampling import load_samples, sample_shards, to_uint8


def _fn(gen: StackedGenerator, n: int) -> torch.Tensor:
    x = gen.randn((3,))
    for _ in range(3):  # several draws per sample, as a sampler's steps would make
        x = x + 0.1 * gen.randn((3,))
    return x


def test_samples_do_not_depend_on_batch_size(tmp_path):
    a = Run("t", "a", "smoke", {"seed": 5}, runs_root=tmp_path)
    b = Run("t", "b", "smoke", {"seed": 5}, runs_root=tmp_path)
    sample_shards(a, "s", n=10, batch_size=3, fn=_fn, shard_size=4)
    sample_shards(b, "s", n=10, batch_size=7, fn=_fn)
    xa, xb = load_samples(a, "s"), load_samples(b, "s")
    assert xa.shape == (10, 3)
    np.testing.assert_array_equal(xa, xb)
    c = Run("t", "c", "smoke", {"seed": 6}, runs_root=tmp_path)
    sample_shards(c, "s", n=10, batch_size=10, fn=_fn)
    assert not np.allclose(load_samples(c, "s"), xa)


def test_interrupted_sampling_resumes_at_the_next_missing_shard(tmp_path):
    run = Run("t", "r", "smoke", {"seed": 1}, runs_root=tmp_path)
    calls = []

    def failing(gen, n):
        calls.append(gen.seeds[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return _fn(gen, n)

    with pytest.raises(KeyboardInterrupt):
        sample_shards(run, "s", n=8, batch_size=2, fn=failing)
    folder = run.root / "samples" / "s"
    assert sorted(p.name for p in folder.glob("shard_*.npz")) == ["shard_00000.npz", "shard_00001.npz"]
    assert not list(folder.glob(".*tmp")) and not (folder / "complete.txt").exists()
    with pytest.raises(FileNotFoundError, match="no complete sample set"):
        load_samples(run, "s")
    calls.clear()
    sample_shards(run, "s", n=8, batch_size=2, fn=_fn_counting(calls))
    assert len(calls) == 2  # only shards 2 and 3 were made
    reference = Run("t", "ref", "smoke", {"seed": 1}, runs_root=tmp_path)
    sample_shards(reference, "s", n=8, batch_size=8, fn=_fn, shard_size=2)
    np.testing.assert_array_equal(load_samples(run, "s"), load_samples(reference, "s"))


def _fn_counting(calls):
    def fn(gen, n):
        calls.append(n)
        return _fn(gen, n)

    return fn


def test_changed_sample_count_is_refused_not_mixed(tmp_path):
    run = Run("t", "m", "smoke", {"seed": 1}, runs_root=tmp_path)
    sample_shards(run, "s", n=4, batch_size=2, fn=_fn)
    with pytest.raises(RuntimeError, match="delete the folder"):
        sample_shards(run, "s", n=6, batch_size=2, fn=_fn)


def test_to_uint8_rounds_and_puts_channels_last():
    x = torch.tensor([0.0, 0.5, 1.0, 1.2, -0.1]).view(1, 1, 1, 5).expand(2, 3, 1, 5)
    u = to_uint8(x)
    assert u.dtype == torch.uint8 and u.shape == (2, 1, 5, 3)
    assert u[0, 0, :, 0].tolist() == [0, 128, 255, 255, 0]
