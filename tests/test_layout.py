"""The tree is the architecture: every import (lazy ones too) points down the layers, and no module imports
itself back through others. The order is the README's "Layout" and crpo/__init__.py's."""
import ast
from pathlib import Path

CRPO = Path(__file__).parents[1] / "crpo"
LAYERS = ["crpo.data", "crpo.synth", "crpo.routing", "crpo.models", "crpo.parallel", "crpo.rl", "crpo.bench",
          "crpo.training", "crpo.demo", "crpo.cli"]


def modules() -> dict[str, Path]:
    out = {}
    for f in CRPO.rglob("*.py"):
        name = ".".join(f.relative_to(CRPO.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = f
    return out


def imports(path: Path, known) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("crpo"):
            found |= {c for c in [node.module, *(f"{node.module}.{a.name}" for a in node.names)] if c in known}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
    return found


def layer(module: str) -> int | None:
    return next((i for i, p in enumerate(LAYERS) if module == p or module.startswith(p + ".")), None)


def test_every_module_belongs_to_a_layer():
    assert [m for m in modules() if m != "crpo" and layer(m) is None] == []


def test_imports_point_down_the_layers():
    mods = modules()
    up = [f"{m} -> {t}" for m, f in mods.items() for t in imports(f, mods)
          if layer(m) is not None and layer(t) is not None and layer(t) > layer(m)]
    assert up == []


def test_no_import_circle():
    mods = modules()
    graph = {m: imports(f, mods) - {m} for m, f in mods.items()}
    state, circles = {}, []

    def visit(m, path):
        state[m] = "open"
        for t in graph[m]:
            if state.get(t) == "open":
                circles.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t, path + [t])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert circles == []
