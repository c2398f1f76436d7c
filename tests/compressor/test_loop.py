"""The learning-rate schedule is a pure function of the run's progress, by steps or by the time budget."""

from __future__ import annotations

import pytest

from asdfd.compressor.loop import learning_rate, run_progress


def _schedule(
    steps: int, max_seconds: float | None, seconds_per_step: float, at: list[int], *, peak: float, warmup: float
) -> list[float]:
    return [
        learning_rate(run_progress(step + 1, steps, step * seconds_per_step, max_seconds), peak, warmup) for step in at
    ]


def test_schedule_by_steps_warms_up_and_decays_to_zero():
    rates = _schedule(100, None, 0.0, [0, 4, 9, 50, 99], peak=1e-3, warmup=0.1)
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1e-3)
    assert rates[3] < rates[2] and rates[4] == 0.0


def test_schedule_by_time_budget_ignores_a_large_step_cap():
    """With a time budget the warm-up must not last `warmup_fraction * steps` (a huge step cap once kept the rate
    near zero for a whole benchmark)."""
    rates = _schedule(100_000, 100.0, 1.0, [0, 10, 50, 99], peak=1e-3, warmup=0.05)
    assert rates[1] > 0.9e-3 and rates[2] == pytest.approx(1e-3 * 50 / 95, rel=0.05) and rates[3] < 1e-4


def test_progress_is_the_further_of_steps_and_time():
    assert run_progress(10, 100, 50.0, 100.0) == 0.5
    assert run_progress(90, 100, 50.0, 100.0) == 0.9
    assert run_progress(500, 100, 0.0, None) == 1.0


def test_progress_under_a_time_budget_counts_the_budget_not_the_step_cap():
    import io
    from types import SimpleNamespace

    from asdfd.compressor.distill_config import DistillConfig
    from asdfd.compressor.loop import advance_bar, distill_bar

    trainer = SimpleNamespace(config=DistillConfig.for_budget("fast"), step=0, train_seconds=0.0)  # 330 s, 100k steps
    with distill_bar(trainer, "mix: distilling", show=True) as bar:
        bar.fp = io.StringIO()
        trainer.step, trainer.train_seconds = 357, 81.4
        advance_bar(bar, trainer)
        text = str(bar)
    assert "mix: distilling:  25%|" in text and "81/330 s of the time budget" in text, text
    assert "100000" not in text and "357/" not in text, text
    trainer = SimpleNamespace(config=DistillConfig(steps=50), step=0, train_seconds=0.0)
    with distill_bar(trainer, "kd: distilling", show=True) as bar:
        bar.fp = io.StringIO()
        trainer.step = 1
        advance_bar(bar, trainer)
        assert bar.n == 1 and bar.total == 50
