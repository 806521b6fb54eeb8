"""The miniature end to end (`crpo demo`): world -> base -> start -> RL runs -> report. The top layer below the CLI.

- pipeline.py   the stages, each skipped when its output exists; RL runs resume
- base.py       the demo's base model: perception pre-training of the tiny Qwen3-VL (crpo/assets/demo_base)
- stats.py      per-seed numbers -> mean, std and paired confidence intervals
- report.py     results.json, report.md and report.png
"""
