"""Whether an instance falls apart into independent parts, and so could be solved part by part.

    .venv/bin/python benchmarks/components.py instances/county.json county:2000 county:1000:25

Issue 4 suggests decomposing the search into independent components of the eligibility and
conflict graph. Two children are in the same part when they share a placement or an outreach
team they could use, must not meet, or are siblings; ``max_moves`` and the weekly budget tie
every child to every other (one limit over all of them). Each argument is an instance file or
``shape:children[:max_km]``, generated at seed 1 as the benchmark suites do. Prints one CSV row
per instance; the figures in benchmarks/README.md come from this script.
"""

from __future__ import annotations

import argparse
import csv
import sys

import networkx as nx

from matcher.eligibility import candidates
from matcher.generate import generate
from matcher.instance import Instance
from matcher.io import read_instance

SEED = 1


def load(spec: str) -> Instance:
    """An instance file, or ``shape:children[:max_km]`` generated at ``SEED``."""
    if ":" not in spec:
        return read_instance(spec)
    shape, children, *km = spec.split(":")
    instance = generate(shape, int(children), SEED)
    if not km:
        return instance
    policy = instance.policy.model_copy(update={"max_distance_km": float(km[0])})
    return instance.model_copy(update={"policy": policy})


def parts(instance: Instance) -> list[int]:
    """Children in each connected part of the graph of children, placements and outreach teams
    (edges: options, conflicts, sibling groups), largest first; limits over every child
    (``max_moves``, the budget) are left out here and reported beside."""
    cands = candidates(instance)
    graph = nx.Graph()
    for child in instance.children:
        node = ("child", child.id)
        graph.add_node(node)
        for option in cands.options[child.id]:
            graph.add_edge(node, ("placement", option.placement))
            graph.add_edges_from((node, ("team", team)) for team in option.teams or ())
        graph.add_edges_from((node, ("team", team)) for team in cands.home_teams.get(child.id, ()))
    graph.add_edges_from((("child", c.a), ("child", c.b)) for c in instance.conflicts)
    for members in instance.sibling_members.values():
        graph.add_edges_from((("child", members[0]), ("child", m)) for m in members[1:])
    sizes = [sum(kind == "child" for kind, _ in part) for part in nx.connected_components(graph)]
    return sorted((size for size in sizes if size), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="+", help="instance files or shape:children[:max_km]")
    args = parser.parse_args()
    out = csv.writer(sys.stdout)
    out.writerow(["instance", "children", "parts", "largest", "max_moves", "weekly_budget"])
    for spec in args.instances:
        instance = load(spec)
        sizes = parts(instance)
        policy = instance.policy
        row = [spec, len(instance.children), len(sizes), sizes[0] if sizes else 0]
        out.writerow([*row, policy.max_moves, policy.weekly_budget])
        sys.stdout.flush()


if __name__ == "__main__":
    main()
