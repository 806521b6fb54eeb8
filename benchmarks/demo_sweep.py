"""The demo pipeline over development seeds and settings: per-algorithm dynamic-pair P-Acc, mean and std.

    .venv/bin/python benchmarks/demo_sweep.py --seeds 3 --out runs/sweep/default
    .venv/bin/python benchmarks/demo_sweep.py --seeds 2 --out runs/sweep/lr5e-4 rl_lr=5e-4 start_steps=20

Development seeds only: worlds and runs from seed 100 on (the demo uses 0..2), the bench from seed 300 (the demo's
evaluation bench, crpo.demo.pipeline.EVAL_SEED, is never used here). Every stage resumes like `crpo demo`, so adding a
seed or rerunning costs only what is new. Not part of `make test`: about 5 CPU minutes per seed. The README's
"how the demo was tuned" table (docs/demo.md) is this script's output.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from crpo.demo.pipeline import ALGORITHMS, DemoSettings, run_demo

DEV_BENCH_SEED, DEV_FIRST_SEED = 300, 100


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--bench-pairs", type=int, default=60)
    ap.add_argument("--out", required=True)
    ap.add_argument("overrides", nargs="*", help="DemoSettings fields as key=value")
    a = ap.parse_args()
    types = {f.name: f.type for f in dataclasses.fields(DemoSettings)}
    kw = {}
    for item in a.overrides:
        key, value = item.split("=", 1)
        if key not in types:
            ap.error(f"unknown setting '{key}' (one of {', '.join(types)})")
        kw[key] = (int if types[key] in ("int", int) else float)(value)
    s = DemoSettings(**{**dict(bench_pairs=a.bench_pairs, bench_seed=DEV_BENCH_SEED, first_seed=DEV_FIRST_SEED),
                        **kw})
    results = run_demo(out=a.out, seeds=a.seeds, settings=s)
    print(f"\nsettings: {json.dumps(kw) or 'defaults'}; {a.seeds} dev seeds; bench seed {DEV_BENCH_SEED}")
    metrics = results["metrics"]
    print(f"{'run':12s} " + " ".join(f"{m[:14]:>16s}" for m in metrics))
    for name in ("start",) + ALGORITHMS:
        summary = results["runs"][name]["summary"]
        print(f"{name:12s} " + " ".join(f"{100 * v['mean']:7.1f} ± {100 * v['std']:5.1f}" if (v := summary[m])
                                        else f"{'-':>16s}" for m in metrics))
    (Path(a.out) / "sweep.json").write_text(json.dumps({"settings": kw, "seeds": a.seeds, "results": results}))

if __name__ == "__main__":
    main()
