"""dlg/mnist: DLG vs six integrators on digits, with a small VE score net and level classifier trained here.

Data: the packaged 5000 MNIST digits (repro.data, 4000 train / 500 test), [0, 1]. Score model: `TinyScoreNet`
(score_sde's continuous VE loss); level classifier: SimpleCNN on 28x28x1 with the DMCMC objective. Quality:
Frechet distance in a digit classifier's features (`repro.metrics.classifier.fid_lenet`) against the test split.
"""

from __future__ import annotations

import torch

from papers.dlg.classifier import SimpleCNN, level_loss
from papers.dlg.images import metric_rows, plot_fid_vs_nfe, sample_points
from papers.dlg.nets import TinyScoreNet
from repro.data.batches import TensorBatches
from repro.diffusion.losses import ve_dsm_loss
from repro.diffusion.sde import VESDE, dlg_level_grid
from repro.run import Run


def _data(run: Run, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from repro.data.load import load_dataset

    d = load_dataset(run.cfg["dataset"], run.data_root, split=split)
    return torch.as_tensor(d.images), torch.as_tensor(d.labels)


def _models(run: Run) -> tuple[TinyScoreNet, SimpleCNN]:
    cfg = run.cfg
    torch.manual_seed(run.seed)
    return (TinyScoreNet(1, cfg["score_net"]["width"]), SimpleCNN(cfg["n_levels"], channels=1, image_size=28))


def _levels(cfg) -> torch.Tensor:
    return dlg_level_grid(cfg["sigma_min"], cfg["sigma_max"], cfg["n_levels"]).float()


def _train_cfg(t: dict, name: str):
    from repro.train import TrainConfig

    return TrainConfig(
        steps=t["steps"],
        lr=t["lr"],
        batch_size=t["batch_size"],
        ema_decay=t.get("ema_decay"),
        grad_clip=1.0,
        ckpt_every=max(1, t["steps"] // 4),
        name=name,
    )


def train(run: Run) -> None:
    """Score net (DSM, EMA), level classifier (cross-entropy over levels), and the feature classifier for FID."""
    from repro.metrics.classifier import save_classifier, train_digit_classifier
    from repro.train import train as fit

    cfg = run.cfg
    x, y = _data(run, "train")
    score_net, clf = _models(run)
    t = cfg["score_net"]
    fit(
        run,
        score_net,
        ve_dsm_loss(VESDE(cfg["sigma_min"], cfg["sigma_max"])),
        TensorBatches(x, t["batch_size"], seed=run.seed),
        _train_cfg(t, "score"),
    )
    c = cfg["classifier"]
    fit(
        run,
        clf,
        level_loss(_levels(cfg)),
        TensorBatches(x, c["batch_size"], seed=run.seed + 1),
        _train_cfg(c, "level_classifier"),
    )
    save_classifier(
        train_digit_classifier(x, y, steps=cfg["feature_classifier_steps"], seed=run.seed),
        run.path("feature_classifier.pt"),
    )


def _load(run: Run):
    from repro.train import load_trained

    score_net, clf = _models(run)
    score_net = load_trained(run, score_net, "score")
    clf = load_trained(run, clf, "level_classifier")
    return score_net, clf


def sample(run: Run) -> None:
    score_net, clf = _load(run)
    sample_points(run, score_net, clf, _levels(run.cfg), (1, 28, 28))


def evaluate(run: Run) -> None:
    from repro.metrics.classifier import fid_lenet, load_classifier

    feat = load_classifier(run.root / "feature_classifier.pt")
    ref, _ = _data(run, "test")
    rows = metric_rows(
        run,
        run.cfg["dataset"],
        lambda x: fid_lenet(feat, x, ref),
        metric="fid_lenet",
        unit="Frechet distance (digit-classifier features)",
    )
    # the metric's floor at this sample size: as many real training digits as samples, against the same test set
    train, _ = _data(run, "train")
    n = run.cfg["n_samples"]
    rows.append(
        {
            "dataset": run.cfg["dataset"],
            "setting": {"integrator": "data", "dlg": "off"},
            "metric": "fid_lenet",
            "value": float(fid_lenet(feat, train[:n], ref)),
            "stderr": None,
            "unit": "Frechet distance (digit-classifier features)",
            "n_samples": min(n, len(train)),
            "seed": run.seed,
        }
    )
    run.save_metrics(rows)
    plot_fid_vs_nfe(
        run,
        rows,
        "fid_lenet",
        "fid_vs_nfe",
        "DLG on digits: classifier-feature FID vs NFE",
        "Small VE score net and level classifier trained on the packaged MNIST digits; six integrators "
        "without and with DLG at matched per-sample NFE (n_skip + integrator + Tweedie).",
    )
