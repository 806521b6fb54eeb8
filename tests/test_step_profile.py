"""StepProfile (crpo/training/step_profile.py): phase seconds add up, memory peaks are each phase's own."""
import time

import numpy as np
import pytest
import torch

from crpo.training.step_profile import StepProfile


def test_phases_time_and_peak_memory_are_each_phases_own():
    profile = StepProfile(torch.device("cpu"))
    with profile.phase("data"):
        big = np.ones(2 ** 28 // 8)  # 256 MiB, touched
        del big
    with profile.phase("reward"):
        time.sleep(0.05)
    with profile.phase("loss"):
        time.sleep(0.02)
    profile.move(0.01, "loss", "weight_sync")
    row = profile.row(step_seconds=1.0)
    assert row["time/reward"] >= 0.05 and abs(row["time/weight_sync"] - 0.01) < 1e-12
    assert abs(sum(v for k, v in row.items() if k.startswith("time/")) - 1.0) < 1e-9
    # the 256 MiB array raised data's peak; reward's peak was reset after it was freed
    assert row["peak_mem_gib/data"] - row["peak_mem_gib/reward"] > 0.2


def test_an_unknown_phase_is_refused():
    with pytest.raises(ValueError, match="unknown step phase 'sync'"):
        with StepProfile(torch.device("cpu")).phase("sync"):
            pass
