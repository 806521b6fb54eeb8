"""What each scripted policy earns under the default reward and under the literal one (the README's reward table).

    .venv/bin/python benchmarks/reward_table.py

Columns: "Which direction does the square move?" with 2, 3 and 4 options (answer "left", the reversed clip's answer
"right" listed), 3 options without "right" (the null option is then the counterfactual answer), and 4 options whose
counterfactual answer the text does not tell (relation annotated, answer not). Policies: crpo/rl/methods/policy_table.py.
Mean reward per rollout over the item's 2G = 16 rollouts, scored by the trainer's own plan -> score path.
"""
from crpo.data.items import Item
from crpo.rl.methods.policy_table import reward_table
from crpo.training.config import TrainConfig

Q = "Which direction does the square move?"


def item(options, **kw):
    return Item(id="q", video="v.mp4", question=Q, options=options, answer="A", **kw)


COLUMNS = {"2 options": item(["left", "right"]), "3 options": item(["left", "right", "up"]),
           "4 options": item(["left", "right", "up", "down"]), "'right' not listed": item(["left", "up", "down"]),
           "answer unknown": item(["left", "right", "up", "down"], counterfactual={"reverse": {"relation": "change"}})}

for title, overrides in (("default (crr_mode=answer, crr_unmapped=skip, null option on)", {}),
                         ("crr_mode=answer, crr_unmapped=change", {"crr_unmapped": "change"}),
                         ("crr_mode=any_change (the paper read literally)", {"crr_mode": "any_change"}),
                         ("default, null_option=off", {"null_option": "off"})):
    cfg = TrainConfig(num_generations=8, **overrides)
    print(f"\n{title}\n")
    print(reward_table({name: (it, cfg) for name, it in COLUMNS.items()}, cf_answers={"answer unknown": "B"}))
