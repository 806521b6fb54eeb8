"""The public API is what the README shows: `from crpo import (...)` in its "Script it" block names exactly
`crpo.__all__`, every name resolves to what it says, and the block's lines run."""
import re
from pathlib import Path

from shared_data import BIKES

import crpo

README = Path(__file__).parents[1] / "README.md"


def script_block() -> str:
    text = README.read_text()
    section = text[text.index("## Script it"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_imports_exactly_the_public_api():
    block = script_block()
    names = re.search(r"from crpo import \((.*?)\)", block, re.S).group(1)
    assert sorted(n.strip() for n in names.split(",") if n.strip()) == sorted(crpo.__all__)
    assert sorted(crpo.__all__) == sorted(set(crpo.__all__))


def test_public_names_resolve_to_the_documented_objects():
    from crpo.bench.score import score_file
    from crpo.data.counterfactual import counterfactual
    from crpo.routing.rules import relation
    from crpo.training.config import TrainConfig
    assert crpo.score is score_file and crpo.counterfactual is counterfactual and crpo.relation is relation
    assert crpo.TrainConfig is TrainConfig and all(callable(getattr(crpo, n)) for n in crpo.__all__)


def test_the_readme_block_runs_up_to_training(tmp_path):
    # the lines that need no model: the item, its relation and option map, a clip and its mirror, a config
    block = script_block()
    runnable = block.split("# --- with a model")[0].replace('"bikes.mp4"', repr(BIKES))
    scope: dict = {}
    exec(compile(runnable, str(README), "exec"), scope)
    assert scope["relation"](scope["item"], "hflip") == ("change", "B")
    assert scope["mirrored"].frames.shape == scope["clip"].frames.shape
