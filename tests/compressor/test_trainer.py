"""The learning-rate schedule follows the run's progress, by steps or by the time budget."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from asdfd.compressor import DistillConfig
from asdfd.compressor.trainer import Trainer


def _schedule(config: DistillConfig, seconds_per_step: float, steps: list[int]) -> list[float]:
    state = SimpleNamespace(config=config, train_seconds=0.0, step=0)
    state.progress = lambda step: Trainer.progress(state, step)
    rates = []
    for step in steps:
        state.step, state.train_seconds = step, step * seconds_per_step
        rates.append(Trainer.learning_rate(state))
    return rates


def test_schedule_by_steps_warms_up_and_decays_to_zero():
    config = DistillConfig(steps=100, lr=1e-3, warmup_fraction=0.1)
    rates = _schedule(config, 0.0, [0, 4, 9, 50, 99])
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1e-3)
    assert rates[3] < rates[2] and rates[4] == 0.0


def test_schedule_by_time_budget_ignores_a_large_step_cap():
    """With a time budget the warm-up must not last `warmup_fraction * steps` (a huge step cap once kept the rate
    near zero for a whole benchmark)."""
    config = DistillConfig(steps=100_000, max_seconds=100.0, lr=1e-3, warmup_fraction=0.05)
    rates = _schedule(config, 1.0, [0, 10, 50, 99])
    assert rates[1] > 0.9e-3 and rates[2] == pytest.approx(1e-3 * 50 / 95, rel=0.05) and rates[3] < 1e-4
