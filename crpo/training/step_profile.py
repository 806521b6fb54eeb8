"""Where a training step spends its time and memory: seconds and peak memory per phase, logged in metrics.jsonl.

Phases (what the trainer wraps): data (decode clips, plan branches), generate (rollouts, the vision encode
included, the weight sync not), weight_sync (rollout_engine=vllm: the policy's weights into the engine), reward,
old_logprobs, ref_logprobs, loss (forward, backward and optimizer step of every micro-batch), other (what is left
of the step's `seconds`: batch counts, the scheduler; logging, bench evaluation and checkpoints come after the step
is timed and are in none of them).

Peak memory per phase is what bounds a run: on a GPU, the allocator's peak (torch.cuda.max_memory_allocated,
reset at each phase); on Linux CPUs, the process's peak resident set (VmHWM, reset at each phase through
/proc/self/clear_refs), which covers everything in the process (the vLLM engine and the Python heap included).
Elsewhere memory is not recorded. Numbers are this process's; the logger takes the maximum over processes.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import torch

PHASES = ("data", "generate", "weight_sync", "reward", "old_logprobs", "ref_logprobs", "loss")
GIB = 2 ** 30


def peak_rss_bytes() -> int | None:
    """The process's peak resident set size since the last reset (Linux), else None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Start a new peak: VmHWM := the current resident set. False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class StepProfile:
    """Seconds and peak memory (GiB) of each phase of one step: `with profile.phase("loss"): ...`."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.peak_gib: dict[str, float] = {}

    def _reset_peak(self) -> bool:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            return True
        return reset_peak_rss()

    def _peak(self) -> int | None:
        return torch.cuda.max_memory_allocated() if self.cuda else peak_rss_bytes()

    @contextmanager
    def phase(self, name: str):
        if name not in self.seconds:
            raise ValueError(f"unknown step phase {name!r}; one of {PHASES}")
        tracked = self._reset_peak()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.cuda:  # kernels run asynchronously: without this a phase's work is booked to the next one
                torch.cuda.synchronize()
            self.seconds[name] += time.perf_counter() - t0
            peak = self._peak() if tracked else None
            if peak is not None:
                self.peak_gib[name] = max(self.peak_gib.get(name, 0.0), peak / GIB)

    def move(self, seconds: float, source: str, target: str) -> None:
        """Book `seconds` measured inside `source` under `target` (the engine's weight sync runs inside generate)."""
        self.seconds[source] -= seconds
        self.seconds[target] += seconds

    def row(self, step_seconds: float) -> dict[str, float]:
        """`time/<phase>` for every phase, `time/other` (the rest of `step_seconds`), `peak_mem_gib/<phase>` for
        each measured one."""
        out = {f"time/{k}": v for k, v in self.seconds.items()}
        out["time/other"] = max(0.0, step_seconds - sum(self.seconds.values()))
        out.update({f"peak_mem_gib/{k}": v for k, v in self.peak_gib.items()})
        return out
