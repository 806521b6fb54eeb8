"""StepProfile (crpo/training/step_profile.py): phase seconds add up, memory peaks are each phase's own."""
import time

import numpy as np
import pytest
import torch

from crpo.training.step_profile import StepProfile


def test_phases_time_and_peak_memory_are_each_phases_own():
    profile = StepProfile(torch.device("cpu"))
    t0 = time.perf_counter()
    with profile.phase("data"):
        big = np.ones(2 ** 28 // 8)  # 256 MiB, touched
        del big
    with profile.phase("reward"):
        time.sleep(0.05)
    with profile.phase("loss"):
        time.sleep(0.02)
    profile.move(0.01, "loss", "weight_sync")
    step_seconds = time.perf_counter() - t0 + 0.5  # the step's wall time, with 0.5 s spent outside any phase
    row = profile.row(step_seconds=step_seconds)
    assert row["time/reward"] >= 0.05 and abs(row["time/weight_sync"] - 0.01) < 1e-12
    assert row["time/other"] >= 0.5
    assert abs(sum(v for k, v in row.items() if k.startswith("time/")) - step_seconds) < 1e-9
    # the 256 MiB array raised data's peak; reward's peak was reset after it was freed
    assert row["peak_mem_gib/data"] - row["peak_mem_gib/reward"] > 0.2


def test_an_unknown_phase_is_refused():
    with pytest.raises(ValueError, match="unknown step phase 'sync'"):
        with StepProfile(torch.device("cpu")).phase("sync"):
            pass
