"""No silent reuse of sample shards: the experiment settings are recorded beside them and a change is refused."""

import json

import pytest
import torch

from repro.run import Run
from repro.sampling import load_samples, sample_shards


def _fn(gen, n):
    return gen.randn((2,))


def _run(tmp_path, **cfg):
    return Run("t", "s", "smoke", {"seed": 1, "n_train": 10, "compile": False, **cfg}, runs_root=tmp_path)


def test_shards_under_another_config_are_refused_naming_folder_and_field(tmp_path):
    sample_shards(_run(tmp_path), "s", n=4, batch_size=2, fn=_fn)
    folder = tmp_path / "smoke" / "t" / "s" / "samples" / "s"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["settings"] == {"seed": 1, "n_train": 10} and len(meta["fingerprint"]) == 64
    for call in (
        lambda: sample_shards(_run(tmp_path, n_train=20), "s", n=4, batch_size=2, fn=_fn),
        lambda: load_samples(_run(tmp_path, n_train=20), "s"),
    ):
        with pytest.raises(RuntimeError) as info:
            call()
        assert str(folder) in str(info.value) and "n_train: 10 -> 20" in str(info.value)


def test_identical_or_execution_only_changes_reuse_the_shards(tmp_path):
    sample_shards(_run(tmp_path), "s", n=4, batch_size=2, fn=_fn)
    first = load_samples(_run(tmp_path), "s")

    def never(gen, n):
        raise AssertionError("a complete shard set was sampled again")

    sample_shards(_run(tmp_path, compile=True, needs=["x"]), "s", n=4, batch_size=2, fn=never)
    assert torch.equal(torch.from_numpy(load_samples(_run(tmp_path, compile=True), "s")), torch.from_numpy(first))


def test_shards_without_recorded_settings_are_refused(tmp_path):
    sample_shards(_run(tmp_path), "s", n=4, batch_size=2, fn=_fn)
    folder = tmp_path / "smoke" / "t" / "s" / "samples" / "s"
    (folder / "meta.json").write_text(json.dumps({"n": 4, "shard_size": 2, "seed": 1}))
    with pytest.raises(RuntimeError, match="not recorded"):
        sample_shards(_run(tmp_path), "s", n=4, batch_size=2, fn=_fn)
    (folder / "meta.json").unlink()
    with pytest.raises(RuntimeError, match="no meta.json"):
        sample_shards(_run(tmp_path), "s", n=4, batch_size=2, fn=_fn)
