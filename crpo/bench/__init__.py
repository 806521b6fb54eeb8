"""Paired counterfactual benchmarks: build them, score predictions on them, report runs side by side.

- builder.py     an annotated video-QA set -> a DyBench-style paired benchmark (`crpo bench build`)
- score.py       predictions -> metrics for every supported format (`crpo score`); DyBench metrics live here
- timeblind.py, vinoground.py, tempcompass.py (+ tempcompass_rules.py), mvbench.py, tvbench.py
                 one file per peer benchmark: its official answer parser and aggregation (docs/scorers.md)
- quirks.py      the official code's number-changing quirks each scorer reproduces, and their `--quirk` switches
- lmms_task.py   a built bench written as an lmms-eval task (`crpo bench build --lmms-eval-task`)
- lmms_samples.py  an lmms-eval `--log_samples` file joined onto a bench (`crpo score --lmms-eval-samples`)
- report.py      several runs' metrics.json -> report.md + report.png (`crpo report`)
"""
