"""What tests/compressor/test_torchrun.py launches under torchrun instead of `-m asdfd.cli`: the same CLI, with an
optional fault injected: `ASDFD_TEST_NAN_RANK=r`, `ASDFD_TEST_NAN_STEP=n` (rank r's KD loss becomes NaN from its
n-th step on), `ASDFD_TEST_NO_ALL_REDUCE=1` (gradients are not averaged, so the ranks' weights drift apart). Only the
tests use it; the product has no such switch.
"""

from __future__ import annotations

import os

import torch

from asdfd.cli import main
from asdfd.compressor import head_losses, loop

_rank = int(os.environ.get("RANK", "0"))
_nan_rank = int(os.environ.get("ASDFD_TEST_NAN_RANK", "-1"))
_nan_step = int(os.environ.get("ASDFD_TEST_NAN_STEP", "0"))

if _rank == _nan_rank:
    _kd_loss = head_losses.kd_loss  # the single-label head's KD loss
    _calls = [0]

    def _poisoned_kd_loss(*args, **kwargs) -> torch.Tensor:
        _calls[0] += 1
        loss = _kd_loss(*args, **kwargs)
        return loss * float("nan") if _calls[0] >= _nan_step else loss

    head_losses.kd_loss = _poisoned_kd_loss

if os.environ.get("ASDFD_TEST_NO_ALL_REDUCE") == "1":
    loop.all_reduce_mean = lambda parameters, placement: None

main()
