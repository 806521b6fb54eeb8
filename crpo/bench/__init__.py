"""Paired counterfactual benchmarks: build them, score predictions on them, report runs side by side.

- builder.py     an annotated video-QA set -> a DyBench-style paired benchmark (`crpo bench build`)
- score.py       predictions -> metrics for every supported format (`crpo score`); DyBench metrics live here
- timeblind.py, vinoground.py, tempcompass.py, mvbench.py
                 one file per peer benchmark, reproducing its official scoring
- report.py      several runs' metrics.json -> report.md + report.png (`crpo report`)
"""
