import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(scope="session")
def armrest():
    """libarmrest.so loaded into this process, ArmrestBackend registered."""
    import armrest_executorch

    lib = armrest_executorch.load_backend(num_threads=2, kernels="auto", verify=True)
    return lib


_cache = {}


@pytest.fixture(scope="session")
def pte_cache():
    """Exported and lowered programs, shared by every test of the run."""
    return _cache
