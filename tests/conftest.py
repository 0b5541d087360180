import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

# Tests share two cores with whatever else runs: one thread each keeps them predictable.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
