from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "official"


@pytest.fixture
def official_fixtures() -> Path:
    if not FIXTURES.exists():
        pytest.skip(f"official fixtures folder {FIXTURES} is absent (it is always present in CI)")
    return FIXTURES


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
