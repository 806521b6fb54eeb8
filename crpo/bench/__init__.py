"""Paired counterfactual benchmarks: build them, run a model on them, score predictions, report runs side by side.
Imports crpo.data, crpo.routing, crpo.models, crpo.parallel and crpo.rl (answer extraction).

- builder.py      an annotated video-QA set -> a DyBench-style paired benchmark (`crpo bench build`)
- evaluate.py     `crpo eval`: batched greedy inference, append-only resumable predictions, several processes
- eval_run.py     the eval folder's lock and manifest (one writer; another model's rows are never resumed)
- audit.py        `crpo audit`: answers and answer distributions on original, mirrored and reversed clips;
                  audit_metrics.py (the pure metrics), audit_report.py (table and chart)
- predictions.py  reading prediction rows, shared by every scorer (below them all)
- score.py        `crpo score`: DyBench metrics and the dispatch to one scorer per peer benchmark:
                  timeblind.py, vinoground.py, tempcompass.py (+ tempcompass_rules.py), mvbench.py, tvbench.py,
                  mvp.py, vitatecs.py (each its benchmark's own answer parser and aggregation; docs/scorers.md)
- quirks.py       the official codes' number-changing quirks each scorer reproduces, and their `--quirk` switches
- lmms_task.py    a built bench written as an lmms-eval task; lmms_samples.py: lmms-eval `--log_samples` read back
- report.py       several runs' metrics.json (or audits) -> report.md + report.png (`crpo report`)
"""
