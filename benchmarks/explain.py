"""Issue 3 target: full explanations of plan 1 within 60 s on top of the solve.

    .venv/bin/python benchmarks/explain.py instances/county.json --time-limit 60 --explain-time 60

Prints one CSV row: the solve's figures, then how long explanations took, how many re-solves
ran, the binding limits by method, how many children were explained in full (alternatives
with their reasons) rather than summarised because time ran out, and of the children with an
eligible better-looking alternative, how many got the forced cost of the first one.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter

from matcher.explain import ExplainSettings, explain
from matcher.io import read_instance
from matcher.solve import SolveSettings, solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("instance")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--explain-time", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    instance = read_instance(args.instance)
    settings = SolveSettings(time_limit=args.time_limit, workers=args.workers, plans=1)
    result = solve(instance, settings)
    started = time.perf_counter()
    explained = explain(instance, result, settings, ExplainSettings(time_limit=args.explain_time))
    seconds = time.perf_counter() - started
    row: dict[str, object] = {
        "instance": args.instance,
        "children": len(instance.children),
        "solve_s": result.solver.wall_time_s,
        "status": result.solver.status,
        "explain_s": round(seconds, 2),
    }
    if explained.plans:
        details = explained.plans[0].explanations or {}
        children = details.get("children", [])
        methods = Counter(b["method"] for b in details.get("binding", []))
        full = [c for c in children if "not explained further" not in c["summary"]]
        forced = Counter(
            a["forced_method"] for c in children for a in c["alternatives"] if a["forced_method"]
        )
        eligible = [
            next(a for a in c["alternatives"] if a["forced_method"] != "not possible: not eligible")
            for c in children
            if any(a["forced_method"] != "not possible: not eligible" for a in c["alternatives"])
        ]
        row |= {
            "scope": details.get("scope"),
            "re_solves": details.get("re_solves"),
            "binding": len(details.get("binding", [])),
            "binding_methods": "; ".join(f"{k}: {v}" for k, v in sorted(methods.items())),
            "children_explained": len(full),
            "non_stay_children": sum(c["action"] != "stay" for c in children),
            "non_stay_explained": sum(c["action"] != "stay" for c in full),
            "forced_methods": "; ".join(f"{k}: {v}" for k, v in sorted(forced.items())),
            "with_eligible_alternative": len(eligible),
            "first_alternative_forced": sum(a["forced_change"] is not None for a in eligible),
        }
    writer = csv.DictWriter(sys.stdout, fieldnames=list(row))
    writer.writeheader()
    writer.writerow(row)


if __name__ == "__main__":
    main()
