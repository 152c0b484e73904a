from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "official"  # data made by the official code; see its README


def run_declared_net(net):
    """A `repro.work.Net` built as declared, in eval mode, on its own inputs at batch 2: (output, inputs)."""
    import torch

    module = net.build().eval()
    args = net.inputs(2, torch.device("cpu"))
    with torch.no_grad():
        return module(*args), args


@pytest.fixture
def official_fixtures() -> Path:
    assert FIXTURES.is_dir(), f"{FIXTURES} is missing: it ships with the repository"
    return FIXTURES


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: intra-op threads only add synchronisation (badly so on a shared, oversubscribed CPU)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def cpu_lane(request, monkeypatch):
    """Every test outside the GPU lane (`gpu`-marked) runs as on CI's machine, without CUDA, whatever this machine
    has: this process sees no device (a `Run` picks the CPU), and neither do the processes it starts. A test may
    still place tensors on CUDA explicitly; the GPU lane covers the device itself."""
    if request.node.get_closest_marker("gpu") is not None:
        return
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config, items):
    """`gpu`-marked tests run where CUDA is available and are skipped elsewhere, saying so."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_tests or _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (marked gpu); torch.cuda.is_available() is False here")
    for item in gpu_tests:
        item.add_marker(skip)
