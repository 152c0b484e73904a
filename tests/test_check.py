"""repro.check: the one table of downloads, torch-free at import, and what `present` reports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from repro import check, tier_check


def test_import_is_torch_free():
    code = "import sys, repro.check; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_required_items_are_in_the_table():
    needed = {
        "cifar10",
        "mnist",
        "celeba",
        "inception",
        "pytorch_fid_inception",
        "dlg_celebahq_classifier",
        "ncsn_cifar10_ckpt",
        "ncsnpp_cifar10_ckpt",
        "ncsnpp_deep_cifar10_ckpt",
        "ncsnpp_celebahq_ckpt",
        "dlg_cifar10_classifier",
        "bark",
    }
    assert needed <= set(check.ITEMS)


def test_present_needs_every_required_file(tmp_path):
    assert not check.present("cifar10", tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for f in check.ITEMS["cifar10"].requires[:-1]:
        (folder / f).write_bytes(b"x")
    assert not check.present("cifar10", tmp_path)
    assert "batches.meta" in check.fix("cifar10", tmp_path)
    (folder / "batches.meta").write_bytes(b"x")
    assert check.present("cifar10", tmp_path)
    assert check.path("cifar10", tmp_path) == folder


def test_checkpoint_paths_and_fix_text(tmp_path):
    p = check.path("ncsnpp_cifar10_ckpt", tmp_path)
    assert p == tmp_path / "score_sde/ve/cifar10_ncsnpp_continuous/checkpoint_24.pth"
    assert str(p) in check.fix("ncsnpp_cifar10_ckpt", tmp_path)
    p.parent.mkdir(parents=True)
    p.write_bytes(b"")
    assert check.present("ncsnpp_cifar10_ckpt", tmp_path)
    assert check.missing(["ncsnpp_cifar10_ckpt", "mnist", "bark"], tmp_path) == ["mnist", "bark"]


def test_inception_also_found_in_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert not check.present("inception", tmp_path / "data")
    hub = tmp_path / "th" / "hub" / "checkpoints" / check.INCEPTION_FILE
    hub.parent.mkdir(parents=True)
    hub.write_bytes(b"w")
    assert check.present("inception", tmp_path / "data")
    assert check.path("inception", tmp_path / "data") == hub


def test_check_rows_cover_cuda_and_every_item(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    rows = check.check(tmp_path)
    assert [r[0] for r in rows] == ["cuda", *check.ITEMS]
    for _, ok, path, fix in rows[1:]:
        assert not ok and path and str(tmp_path) in fix
    text = check.format_table(rows)
    assert "MISSING" in text and "ncsnpp_celebahq_ckpt" in text


def test_unknown_item():
    with pytest.raises(KeyError, match="unknown item 'svhn'"):
        check.present("svhn", "data")


def test_tier_paper_names_each_missing_item_and_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setattr(check, "_cuda", lambda: False)
    needs = tier_check.tier_needs("paper")
    assert {"cifar10", "inception", "ncsnpp_cifar10_ckpt", "cuda"} <= set(needs)
    assert "ncsn/cifar10" in needs["cifar10"]
    assert tier_check.main([str(tmp_path), "--tier", "paper"]) == 1
    out = capsys.readouterr().out
    for name in needs:
        assert f"{name} (needed by " in out, name
    assert "torchvision.datasets.CIFAR10" in out and check.INCEPTION_URL in out


def test_tier_paper_exits_0_when_nothing_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(check, "present", lambda name, root: True)
    assert tier_check.main([str(tmp_path), "--tier", "paper"]) == 0
    assert "has everything it needs" in capsys.readouterr().out


def test_without_tier_check_only_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    assert tier_check.main([str(tmp_path)]) == 0


def test_rehearsal_data_root_links_present_items_and_writes_nothing_in_the_user_root(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    user = tmp_path / "data"
    ckpt = user / check.ITEMS["ncsnpp_cifar10_ckpt"].rel
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"w")
    before = sorted(p.relative_to(user) for p in user.rglob("*"))
    own = check.prepare_rehearsal_data(["ncsnpp_cifar10_ckpt", "cifar10", "cuda"], user, tmp_path / "rehearsal")
    assert (own / check.ITEMS["ncsnpp_cifar10_ckpt"].rel).resolve() == ckpt.resolve()
    assert not check.present("cifar10", own)  # left to the rehearsal config's synthetic stand-in
    assert sorted(p.relative_to(user) for p in user.rglob("*")) == before
