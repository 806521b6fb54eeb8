"""Processes and launchers: what differs between one process, DDP, FSDP2 and several machines (distributed.py).

Imports crpo.data only, so that both the evaluator (crpo.bench) and the trainer (crpo.training) build on it.
Public names: make_accelerator, run_failing_fast, gathered_for_generation, full_state_dict, launch_mismatch,
union_over_processes, copy_to_main.
"""
