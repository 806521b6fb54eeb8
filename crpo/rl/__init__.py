"""The RL maths, free of models and trainers: plain functions over answers and tensors. Imports crpo.data and
crpo.routing (an algorithm's plan asks the router for its counterfactual).

- answers.py        reading what a completion commits to (`extract_answer`), an item's answer in the same form
- answer_metrics.py Video-R1's partial scores: ROUGE, mean relative accuracy, word error rate
- rewards.py        every reward term: accuracy, format, the CRR terms, behave, T-GRPO's bonus, ArrowRL's reward
- algorithms.py     group-relative advantages and the clipped policy losses (TRL's formulas)
- scoring.py        completions -> reward terms -> totals -> advantages, for whichever algorithm runs
- methods/          one module per algorithm: `plan` (which branches an item gets) and `score` (its rewards);
                    methods/policy_table.py: what scripted behaviours earn under a reward config
"""
