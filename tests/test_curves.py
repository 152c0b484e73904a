"""Training curves: the plateau step of analytic curves, and a curve scored from a real training's snapshots."""

import json

import pytest
import torch
from torch import nn

from repro.curves import curve_figure, plateau_row, plateau_step, snapshot_curve
from repro.data.batches import TensorBatches
from repro.run import Run
from repro.train import TrainConfig, train


def test_plateau_is_the_first_step_no_later_step_beats_by_more_than_the_tolerance():
    curve = [(100, 50.0), (200, 20.0), (300, 10.0), (400, 9.8), (500, 9.7)]
    assert plateau_step(curve, lower_is_better=True) == 300  # 9.7 is within 5 % of 10
    assert plateau_step(curve, lower_is_better=True, rel_tol=0.015) == 400
    assert plateau_step([(1, 1.0), (2, 2.0), (3, 4.0)], lower_is_better=False) == 3  # still improving: the last step
    assert plateau_step([(1, 5.0), (2, 1.0), (3, 5.0)], lower_is_better=True) == 2  # a later relapse is no improvement
    with pytest.raises(ValueError, match="empty"):
        plateau_step([], lower_is_better=True)
    row = plateau_row(curve, "fid_lenet", True, dataset="d", seed=0, arm="x")
    assert (row.metric, row.value, row.setting) == (
        "fid_lenet_plateau_step",
        300.0,
        {"arm": "x", "last_step": 500, "rel_tol": 0.05},
    )


def test_snapshot_curve_scores_each_kept_weight_and_the_final_ema(tmp_path):
    run = Run("test", "curve", "smoke", {"seed": 0}, runs_root=tmp_path)
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    cfg = TrainConfig(steps=12, lr=0.1, batch_size=16, ema_decay=0.5, ckpt_every=6, keep_every=4, log_every=2)
    loss = lambda m, b: (m(b) - b.sum(1, keepdim=True)).pow(2).mean()  # noqa: E731
    trained = train(run, nn.Linear(3, 1), loss, TensorBatches(x, 16), cfg)
    seen = []

    def score(model: nn.Module) -> float:
        seen.append(model.weight.detach().clone())
        with torch.no_grad():
            return float(loss(model, x))

    curve = snapshot_curve(run, "model", lambda: nn.Linear(3, 1), score, final_step=12)
    assert [s for s, _ in curve] == [4, 8, 12]
    assert torch.equal(seen[-1], trained.weight)  # the final point scores the EMA weights the results use
    assert curve[-1][1] < curve[0][1]  # a learnable target: the loss falls
    curve_figure(run, "model", curve, "loss", "t")
    index = json.loads((run.root / "figures" / "index.json").read_text())
    assert (run.root / "figures" / "training_model.png").stat().st_size > 0 and len(index) == 1
