"""Routing: what a question's counterfactual is, read from its text alone (no video, no label). Imports crpo.data.

- lexicon.py      plain data: pairs of terms a mirror or a reversal swaps, cue patterns
- text.py         normalising and scanning text into terms (longest phrase first, motion vs position sense)
- phrases.py      phrase-family rules: transitions "from X to Y", axes of change, initial / final state
- rules.py        per (item, transform): the relation (change / same / unknown), the counterfactual answer, the
                  option map; `crpo route`'s row
- classes.py      the paper's question classes (spatial, temporal, spatiotemporal, static) and `counterfactual_target`,
                  the one call training makes: transform, relation and the answer the reward pays
- llm.py, llm_backends.py, llm_maps.py   `crpo route --llm`: an offline LLM's class and option maps, cached

Public names: relation, option_map, route, unlisted (rules); question_class, counterfactual_target, Target (classes);
route_to_cache, load_route_cache (llm).
"""
