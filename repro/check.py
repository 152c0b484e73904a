"""What the paper tier needs from outside (datasets, weights, checkpoints, a GPU), where it lives, how to get it.

`ITEMS` is the one table of canonical locations, relative to the data root (default `data/`, env `REPRO_DATA`).
Configs name items by key (`needs: [cifar10, inception]`); code finds them with `path(name, data_root)`.
This module must stay torch-free at import: the Snakefile calls `present()` while it builds the DAG.

Run `python -m repro check [DATA_ROOT]` (`repro.tier_check`) to print what is present and how to fetch what is missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
PYTORCH_FID_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{PYTORCH_FID_FILE}"
_SCORE_SDE = "score_sde_pytorch README (Google Drive folder of pretrained checkpoints)"


@dataclass(frozen=True)
class Item:
    """One downloadable thing: its folder or file under the data root and the files that must exist inside it."""

    rel: str
    requires: tuple[str, ...]
    fix: str


ITEMS: dict[str, Item] = {
    "cifar10": Item(
        "cifar-10-batches-py",
        ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"),
        "on a networked machine: python -c \"import torchvision; torchvision.datasets.CIFAR10('DATA', download=True)\""
        " (or fetch https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and extract it into DATA)",
    ),
    "mnist": Item(
        "MNIST/raw",
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        "on a networked machine: python -c \"import torchvision; torchvision.datasets.MNIST('DATA', download=True)\""
        " and copy DATA/MNIST/raw (the four unpacked *-ubyte files are enough)",
    ),
    "celeba": Item(
        "celeba",
        (
            "img_align_celeba",
            "list_eval_partition.txt",
            "identity_CelebA.txt",
            "list_attr_celeba.txt",
            "list_bbox_celeba.txt",
            "list_landmarks_align_celeba.txt",
        ),
        "on a networked machine with gdown: python -c \"import torchvision; torchvision.datasets.CelebA('DATA',"
        ' download=True)", or fetch img_align_celeba.zip and the five list files from the CelebA page into'
        " DATA/celeba and unzip the images there",
    ),
    "inception": Item(
        f"inception/{INCEPTION_FILE}",
        (),
        f"fetch {INCEPTION_URL} (torch-fidelity's TF-ported Inception-v3) and place it at PATH;"
        f" a copy in $TORCH_HOME/hub/checkpoints/{INCEPTION_FILE} is also accepted",
    ),
    "pytorch_fid_inception": Item(
        f"inception/{PYTORCH_FID_FILE}",
        (),
        f"fetch {PYTORCH_FID_URL} (pytorch-fid's FID Inception-v3, the DLG paper's metric) and place it at PATH;"
        f" a copy in $TORCH_HOME/hub/checkpoints/{PYTORCH_FID_FILE} is also accepted",
    ),
    "ncsn_cifar10_ckpt": Item(
        "ncsn/run/logs/cifar10/checkpoint.pth",
        (),
        "download run.zip from the ermongroup/ncsn README, unzip it into DATA/ncsn (gives run/logs/<doc>/...)"
        " and make sure the CIFAR-10 run is run/logs/cifar10/checkpoint.pth",
    ),
    "ncsnpp_cifar10_ckpt": Item(
        "score_sde/ve/cifar10_ncsnpp_continuous/checkpoint_24.pth",
        (),
        f"from the {_SCORE_SDE}: ve/cifar10_ncsnpp_continuous/checkpoint_24.pth, placed at PATH",
    ),
    "ncsnpp_deep_cifar10_ckpt": Item(
        "score_sde/ve/cifar10_ncsnpp_deep_continuous/checkpoint_12.pth",
        (),
        f"from the {_SCORE_SDE}: ve/cifar10_ncsnpp_deep_continuous/checkpoint_12.pth, placed at PATH",
    ),
    "ddpmpp_deep_subvp_cifar10_ckpt": Item(
        "score_sde/subvp/cifar10_ddpmpp_deep_continuous/checkpoint_18.pth",
        (),
        f"from the {_SCORE_SDE}: subvp/cifar10_ddpmpp_deep_continuous/checkpoint_18.pth, placed at PATH",
    ),
    "score_sde_cifar10_stats": Item(
        "score_sde/assets/stats/cifar10_stats.npz",
        (),
        "score_sde's FID reference statistics (pool_3 features of the CIFAR-10 training set): cifar10_stats.npz from"
        " the score_sde / score_sde_pytorch README (assets/stats/), placed at PATH",
    ),
    "ncsnpp_celebahq_ckpt": Item(
        "score_sde/ve/celebahq_256_ncsnpp_continuous/checkpoint_48.pth",
        (),
        f"from the {_SCORE_SDE}: ve/celebahq_256_ncsnpp_continuous/checkpoint_48.pth, placed at PATH",
    ),
    "dlg_cifar10_classifier": Item(
        "dmcmc/logs/CIFAR10/200.pt",
        (),
        "from the 1202kbs/DMCMC repository: logs/CIFAR10/200.pt, placed at PATH",
    ),
    "dlg_celebahq_classifier": Item(
        "dmcmc/logs/CELEBAHQ/100.pt",
        (),
        "from the 1202kbs/DMCMC repository: logs/CELEBAHQ/100.pt, placed at PATH",
    ),
    "celebahq": Item(
        "celebahq256",
        (),
        "CelebA-HQ at 256x256 (e.g. the 30k images of the score_sde/NVIDIA release) as PNG files directly in PATH",
    ),
    "bark": Item(
        "bark",
        ("T01", "T02", "T03", "T04"),
        "UIUC texture database (Lazebnik, Schmid, Ponce 2005): put classes T01-T04 as folders T01..T04 of"
        " images in PATH",
    ),
}


def _torch_home() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "torch"
    return Path(os.environ.get("TORCH_HOME", default))


def _candidates(name: str, data_root: str | os.PathLike) -> list[Path]:
    if name not in ITEMS:
        raise KeyError(f"unknown item {name!r}; known items: {', '.join(ITEMS)}")
    paths = [Path(data_root) / ITEMS[name].rel]
    hub_files = {"inception": INCEPTION_FILE, "pytorch_fid_inception": PYTORCH_FID_FILE}
    if name in hub_files:
        paths.append(_torch_home() / "hub" / "checkpoints" / hub_files[name])
    return paths


def _complete(p: Path, requires: tuple[str, ...]) -> bool:
    return p.exists() and all((p / r).exists() for r in requires)


def path(name: str, data_root: str | os.PathLike) -> Path:
    """Where item `name` is (the first complete candidate), else its canonical place under `data_root`."""
    cands = _candidates(name, data_root)
    return next((p for p in cands if _complete(p, ITEMS[name].requires)), cands[0])


def present(name: str, data_root: str | os.PathLike) -> bool:
    """True when item `name` (or `cuda`) is available; torch-free except for `cuda`."""
    if name == "cuda":
        return _cuda()
    return any(_complete(p, ITEMS[name].requires) for p in _candidates(name, data_root))


def missing(names: list[str] | tuple[str, ...], data_root: str | os.PathLike) -> list[str]:
    """The subset of `names` (a config's `needs`) that is not present, in order."""
    return [n for n in names if not present(n, data_root)]


def fix(name: str, data_root: str | os.PathLike) -> str:
    """How to obtain item `name`, with DATA and PATH spelled out."""
    p = Path(data_root) / ITEMS[name].rel
    missing = [r for r in ITEMS[name].requires if not (p / r).exists()]
    need = f" (needs {', '.join(missing)} inside it)" if missing and p.exists() else ""
    return ITEMS[name].fix.replace("DATA", str(data_root)).replace("PATH", str(p)) + need


def _cuda() -> bool:
    import torch  # lazy: importing this module must not pull in torch

    return bool(torch.cuda.is_available())


def check(data_root: str | os.PathLike) -> list[tuple[str, bool, str, str]]:
    """(item, present, path, fix) for the CUDA device and every item of `ITEMS`."""
    rows = [("cuda", _cuda(), "", "run the paper tier on a machine with an NVIDIA GPU and a CUDA build of torch")]
    for name in ITEMS:
        ok = present(name, data_root)
        rows.append((name, ok, str(path(name, data_root)), "" if ok else fix(name, data_root)))
    return rows


def format_table(rows: list[tuple[str, bool, str, str]]) -> str:
    width = max(len(r[0]) for r in rows)
    lines = []
    for name, ok, p, how in rows:
        lines.append(f"{name:<{width}}  {'present' if ok else 'MISSING':<7}  {p}")
        if not ok:
            lines.append(f"{'':<{width}}  {'':<7}  -> {how}")
    return "\n".join(lines)


# Paper rehearsal stand-ins (torch imported only when one is written).


def write_random_inception(dest: str | os.PathLike) -> Path:
    """torch-fidelity's TF-compatible Inception-v3 with its initial (random) weights, saved in the real weights
    file's layout (its state dict) at `dest`, atomically: the real metric path runs, its numbers mean nothing."""
    import tempfile

    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # build the layers, load nothing
            return None

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        empty = Path(tmp) / "empty.pt"
        torch.save({}, empty)
        torch.manual_seed(0)
        module = _Unloaded(
            "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(empty)
        )
        staged = Path(tmp) / dest.name
        torch.save(module.state_dict(), staged)
        os.replace(staged, dest)
    return dest


def write_random_pytorch_fid_inception(dest: str | os.PathLike) -> Path:
    """Random weights in the layout of pytorch-fid's `pt_inception-*.pth` (the state dict of torchvision's
    Inception-v3 with 1008 classes and no aux head; pytorch-fid's FID blocks add no parameters), atomically at
    `dest`: the real metric path runs, its numbers mean nothing."""
    import torch
    import torchvision

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=True)
    staged = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    torch.save(net.state_dict(), staged)
    os.replace(staged, dest)
    return dest


def write_score_sde_stand_in(model, dest: str | os.PathLike) -> Path:
    """`model`'s current (random) weights as an official score_sde checkpoint (DataParallel `module.` keys, EMA
    shadow_params in parameter order), atomically at `dest`: the strict converter loads it like the release."""
    import torch

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "optimizer": {},
        "model": {f"module.{k}": v.detach().cpu() for k, v in model.state_dict().items()},
        "ema": {
            "decay": 0.9999,
            "num_updates": 0,
            "shadow_params": [p.detach().cpu().clone() for p in model.parameters() if p.requires_grad],
        },
        "step": 0,
    }
    staged = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    torch.save(ckpt, staged)
    os.replace(staged, dest)
    return dest


def prepare_rehearsal_data(needs: list[str] | tuple[str, ...], data_root: str | os.PathLike, root: Path) -> Path:
    """The rehearsal's own data root `root`: each needed item present under `data_root` is linked in; absent
    Inception weights (torch-fidelity's, pytorch-fid's) are written there as random weights in the real layout.
    Other absent items are left to the stand-ins of the experiment's rehearsal config or code. Nothing is ever
    written under `data_root`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name in needs:
        if name == "cuda" or present(name, root):
            continue
        dest = root / ITEMS[name].rel
        if present(name, data_root):
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                dest.symlink_to(path(name, data_root).resolve(), target_is_directory=path(name, data_root).is_dir())
            except FileExistsError:  # a job beside this one linked it first
                pass
        elif name == "inception":
            write_random_inception(dest)
        elif name == "pytorch_fid_inception":
            write_random_pytorch_fid_inception(dest)
    return root
