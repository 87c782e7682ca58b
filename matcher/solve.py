"""The solver wrapper: one ``solve()`` entry point that returns ranked plans and a report.

Plan 1 is the optimum (or the best found in time). Plan k > 1 is the best plan the search finds
that differs from every earlier plan in at least ``min_difference`` children's outcomes.

Two search modes:

- ``reproducible`` (the default, and ``auto``): CP-SAT's interleaved search with a deterministic
  time limit, so the same instance, seed and worker count give the same plans, whatever else the
  machine is doing.
  The wall-clock limit is still set as a safety net; if it, rather than the deterministic limit,
  stops a search, the report's ``mode`` says ``reproducible (wall-clock limit hit)``.
- ``fast``: CP-SAT's parallel portfolio under a wall-clock limit (on one or two workers with
  ``FAST_FULL_SUBSOLVERS``); usually faster to prove optimality, but two runs that time out may
  return different plans.

Until neighbourhood search, ``auto`` chose ``fast`` above ``LARGE_MODEL_PAIRS`` pairs: on the
1,200-child county instance the wall clock, not the deterministic limit, always stopped
interleaved search, so the run would not repeat. Neighbourhood search in a fixed number of
steps repeats there, and beat ``fast`` (benchmarks/README.md), so ``auto`` now means
``reproducible`` at every size.

Large models (above ``LARGE_PATH_PAIRS`` pairs): plan 1 gets a bound on the whole model, the
capacity bound (``matcher.bounds``: the beds-only relaxation, solved exactly), and is improved
by neighbourhood search (``matcher.lns``), which uses one core (each core where nothing runs
beside it: neighbourhoods solved at once), from the starting plan or, if
valid and cheaper, the greedy plan that follows the relaxation's own plan (``_followed``). The
occupancy bound (``matcher.occupancy_bound``, which keeps each placement's household rules)
raises the bound in a process beside it when there are two workers or more (``BoundBeside``);
otherwise it gets ``OCCUPANCY_SHARE`` of that search's time before it. Its master LP's households
also give a plan (``matcher.master_plan``), which the search goes on from when it is valid and
cheaper: on county, within 0.02% of the bound; when the bound converged first, the optimum
proven by CP-SAT over the households a cheaper plan could hold (``proven_plan``: county's, in
~18 s of a 60 s run, ~16 s with one worker), which ends the search. In fast mode a
search on a shortlist (each child's ``SHORTLIST_SIZE`` cheapest options and more, small enough
for presolve) follows, and, when time allows, a search of the whole model. Plans 2..K use
shortlists.

Whole models where staff limits every placement (GAP-like): plan 1 first searches the core
(``core``: each child's ``CORE_SIZE`` options with the smallest reduced costs at the staff LP's
prices) on one worker (and, given a second, with the next seed beside it), then the whole model
from its plan. Large ones search the core in a thread beside neighbourhood search, which takes
its plan as a guide (``_start_core_beside``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
from ortools.sat.python import cp_model

from matcher.bounds import CapacityBound, capacity_bound
from matcher.compatibility import group_hosts
from matcher.costs import fees_on_count
from matcher.cpsat import PlacementModel, build_model
from matcher.cpsat.objective import option_pence
from matcher.eligibility import Candidates, candidates
from matcher.greedy import greedy_plan
from matcher.instance import Instance
from matcher.lns import Guide, Guided, Improved, improve
from matcher.master_plan import PROOF_DETERMINISTIC, MasterPlan, master_plan, proven_plan
from matcher.occupancy_bound import (
    BoundBeside,
    Household,
    OccupancyBound,
    PlanFromHouseholds,
    beside_possible,
    occupancy_bound,
)
from matcher.plans import HOME, Outcome, Plan, Result, SolverReport, changes_between, make_plan
from matcher.resources import check_memory, fits_in_memory
from matcher.search import (
    NO_SEARCH,
    ProgressCallback,
    Search,
    SolveSettings,
    complete_hint,
    hint_plan,
    search_model,
)
from matcher.stopping import SearchScope, stop_requested
from matcher.units import to_pence, to_pounds
from matcher.verify import check_plan

SHORTLIST_SIZE = 10
"""Options per child on a large model's shortlist: its 10 cheapest by objective coefficient, plus
its stay, the starting plan's choice and the earlier plans' choices. On the county instance the
shortlist has 13k of 287k pairs, and CP-SAT proved its optimum (£1.8594M) in 27 s."""

CORE_SIZE = 2
"""Options per child in a staff-limited model's core (``core``): its cheapest at cost plus the
relaxation's prices of beds and staff units, i.e. its smallest reduced costs. On ten public GAP
instances of types B-E (10 s, 2 workers) searching the core first took the median gap to the
best known from 1.38% to 0.16% (b10200 1.34% -> 0%, c40400 4.05% -> 0.09%); on the pure GAP
model 3 options did worse than 2 on six of seven (benchmarks/README.md)."""

CORE_SHARE = 0.9
"""Share of plan 1's time a staff-limited whole model's core search gets; the whole model,
hinted with its plan, gets the rest (and gives the bound). On 15 C, D and E instances of
2,000-16,000 pairs (10 s) 0.9 against 0.6: e20400 0.25% -> 0.08% above best known, e10400 and
e10200 to 0 and 0.02%, d20200 1.06% -> 0.92%, e10100 0.05% -> 0.07%, C the same; 0.5 and 0.4
were worse (benchmarks/README.md)."""

CORE_LARGE_SHARE = 0.6
"""The same share on large models (beside or before neighbourhood search): 0.9 there left
e201600 0.30% above best known against 0.10%, d801600 1.04% against 0.36%."""

CORE_FIRST_SHARE = 0.5
"""Where the core goes first and other searches wait for it (a large model whose greedy plan at
the relaxation's prices leaves children unplaced), its first search gets this share of its time
and a core with no plan by then is given up: d401600's core had none in 6 s of 10, and the
shortlist search after it none in the 4 s left (in 8 s: a plan)."""

CORE_ASKED_AT = 0.5
"""Where the core is searched beside neighbourhood search (``_start_core_beside``), the search
asks for the core's plan (waiting for it) once its steps' charge reaches this share of the
core's deterministic time: a GAP step is charged about twice its wall time (0.55 s + 2 x its
0.5 deterministic s, against ~0.75 s), so the core is about done by then. Asked at the full
time, e201600 ended 0.16% above its best known (few steps were left after the core's plan);
at half, 0.10%."""

CORE_GROWTH = 0.1
"""A solved core grows (twice the options per child, from its plan) while at least this share
of the core's time is left: c20100 (20 agents, 100 jobs) went from 0.97% above its optimum to
at it, the 2-option core being proven in a fraction of its time."""

WHOLE_AFTER_CORE_RATE = 0.4
"""The whole-model search after a staff-limited model's core gets this share of the
deterministic time left as its deterministic limit: it loads the whole model on two workers
and accrues deterministic time at ~0.55 of wall time (c20200: 1.12 in 2.01 s, e20200: 0.61 in
1.10 s), so with all of it the clock stopped it first and the run was marked
`wall-clock limit hit` (c10200, c20200, d20200, e20200 at 10 s; no longer). The GAP suite at
10 s gave the same plans and 75 proofs either way but for a few units on six instances, four of
them large models this search is not part of (benchmarks/README.md)."""

CORE_SUBSOLVERS: tuple[str, ...] = ()
"""The core is searched on one worker with CP-SAT's own choice of search (deterministic, so runs
repeat): two interleaved workers found no complete assignment of e40400's core in 5
deterministic seconds, and the project's one-worker ``max_lp`` spent them on cuts."""

SHORTLIST_PRICED = 20
"""Options per child added to a large model's shortlist by cost plus bed price: cheap beds are
contested, and in the best plan known for the county instance (HiGHS, 900 s) the median child
took its 60th-cheapest option but its 5th by cost plus the Lagrangian bed price."""

GROUP_SHORTLIST = 5
"""Placements that could take a whole sibling group added to each member's shortlist."""

LNS_SHARE = 0.85
"""Share of plan 1's time on a large model given to neighbourhood search (``matcher.lns``) from
a valid starting plan, before the shortlist search continues from its plan (fast mode; in
reproducible mode it takes all of plan 1's time). County, 60 s, fast: 0.5 gave £1.766M, 0.85
£1.735M."""

LARGE_PATH_PAIRS = 10_000
"""Above this many pairs (``STAFFED_LARGE_PAIRS`` where staff limits every placement) a model
takes the large path (neighbourhood search, the occupancy bound, shortlists for later plans);
at or below it, CP-SAT searches the whole model. The line was ``LARGE_MODEL_PAIRS`` (50,000)
until generated instances between the two were measured (1 plan, 2 workers, 10 s / 30 s): on
the whole model a 300-child county instance (13.5k pairs) ended 23% / 0.9% above the optimum
the large path proved in 1-7 s, county-300 with a 25 km limit (10.8k) 6.6% / 0.005% above
(proven in 2-5 s), and tight-600 (47.8k) 20% above even at 60 s (proven in 6 s); the whole
model's searches there were also cut by the clock, so did not repeat. tight-300 (13.1k): the
large path's plans were better at 10 s and 30 s, £158 (0.005%) dearer at 60 s, and its bound
weaker (gap 6.6% against 0.95%: the occupancy bound then left out the budget; now priced, the
large path's 60 s plan is the whole model's, gap 0.26%). At or below ~6k
pairs both found the same plans, the whole model with the better bound (tight-200: gap 1.5%
against 14.7%), and tight-120 (2.3k) proven in 7 s where the large path ended 12% / 1.9% from
its bound. Since the occupancy bound prices the budget the large path does better there too
(10 s: tight-120 proven in 1.3 s, a 200-child county in 2.9 s against 8.4 s; tight-200 gap
4.0%); the line stays, as its later plans (on shortlists) were further from plan 1
(county-300 with a 25 km limit, 3 plans: 0.5% against 0.004%) (benchmarks/README.md)."""

STAFFED_LARGE_PAIRS = 20_000
"""Above this many pairs a model whose every placement is limited by staff takes the large path
(the staff LP's bound and prices, the greedy at those prices, neighbourhood search or a
shortlist). On the public GAP instances of 27k-128k pairs (10 s, 2 workers) 11 of 15 got a
complete assignment (8 before), e.g. d201600 31.9% -> 0.15% above the best known, e801600 964
jobs unassigned -> 1.49% above; two got worse (c401600 0.54% -> 18.6%, c801600 20% above -> 192
unassigned). At 4k-16k pairs the whole model did better on types D and E (benchmarks/README.md)."""

PLAN_ONE_SHARE = 0.75
"""Share of the search time plan 1 gets when more plans are asked for; the others split the rest.
Plan 1 is the one a team acts on. 3 plans, 60 s, at 0.6 against 0.75: county £1,687,695.81
(gap 0.012%) against £1,687,509.50 proven optimal; 30 s gap 0.49% against 0.053%; 2,000
children £2,908,439 (gap 8.8%: its plan from the households was due after 15 rounds) against
£2,762,284 (3.6%, after 20); plans 2 and 3 then within £5 on county (benchmarks/README.md)."""

NUDGE_TRIES = 20
"""Moves at most a later plan's nudged start tries (``_relocated``), each checked by the
independent checker (~0.05 s on county)."""

NEXT_START_SLACK = 0.005
"""A later plan starts from a plan neighbourhood search passed only if that costs at most this
share more than the last plan found; otherwise from the last plan (``_next_start``). A proof
ends the search early, and the plans passed before it may lie far above the optimum: on a
1,000-child county (3 plans, 60 s, plan 1 proven) plans 2 and 3 were 3.1% above plan 1 from
them, 0.06% and 0.17% from plan 1 (``_nudged``)."""

SHORTLIST_SHARE = 0.6
"""Share of plan 1's time on a large model given to the shortlist; a whole-model search for the
bound gets the rest if it is at least ``WHOLE_MODEL_MIN_S``."""

WHOLE_MODEL_MIN_S = 20.0
"""Least time worth a whole-model search: on the county instance building the model and
completing the hint take ~10 s before the search starts."""

HINT_SHARE = 0.2
"""Most of the time limit spent completing the starting plan into a full hint (~3 s on county)."""
LARGE_SEARCH_MIN_S = 1.5
"""Seconds that must be left, once the starting plan is made, to build and search a large
model's shortlist (~1 s to build on the county instance); with less, the starting plan is the
answer, so a short ``time_limit`` is kept."""
LATER_PLAN_S_PER_CHILD = 1.5e-3
"""A later plan of a large model is searched only if its share of the time left exceeds
``LARGE_SEARCH_MIN_S`` + this per child: making its shortlist and model took ~25 s for
20,000 children (and ~2 s on county), and without it plan 2 ran ~30 s past the time limit."""
LATER_PLAN_DETERMINISTIC_RATE = 0.4
"""A later plan of a large model gets this share of its deterministic time as its search's
deterministic limit, and is charged the whole share (so each later plan gets the same): its
shortlist search, one full-problem worker beside the neighbourhood workers
(``matcher.search.LARGE_INTERLEAVED_SKIP``), accrues deterministic time at ~0.5 of wall time
on 2,000 children and ~0.7 on county. At 0.75, with every full-problem worker, a 3-plan 60 s
run on 2,000 children was cut by the clock in plans 2 and 3 (£2,921,557 and £2,922,029); at
0.4 not cut, £2,916,179 and £2,920,725 in each of 8 runs (plan 1 then had 60% of the time).
County's: as before (benchmarks/README.md)."""
ONE_WORKER_RATE = 0.8
"""The same share on one worker, whose search (not interleaved) accrues deterministic time at
~0.9-1.0 of wall time: at 0.4, county's plan 2 (3 plans, 60 s, one worker) found no plan in its
4 deterministic seconds."""
FINISH_S = 1.0
"""Seconds of plan 1's time on a large model kept, in reproducible mode, for making and checking
the plan after neighbourhood search (on county its steps overran a 60 s limit by ~1.3 s
without it)."""

FINISH_S_PER_CHILD = 1.5e-4
"""Seconds a child more kept from neighbourhood search's clock (not from its step count, so
runs repeat where the clock does not stop them): the last step, then making and checking the
plan, took a 20,000-child run 1.4-1.6 s past its 120 s limit with ``FINISH_S`` alone, and
0.27 s past it with 1e-4 a child (twenty-second session, a slow machine)."""

PREAMBLE_S = 2.0
PREAMBLE_S_PER_PAIR = 4e-6
PREAMBLE_S_PER_CELL = 2.7e-7
"""What a large model's plan 1 spends before neighbourhood search (options, the greedy plan, the
bound, the shortlist, the search's own set-up): ``PREAMBLE_S`` + these per option pair and per
child x placement tested. Measured (eighteenth session): county (287k pairs, 0.8M cells) 1.5 s,
2,000 children (783k, 2.2M) 2.6 s, 5,000 (5M, 14M) 18.2 s, 20,000 (5.9M capped options, 225M)
58.3 s; the fit to the two largest, x 1.5 for a slow hour, gives 25.8 s and 86 s there. The
constants before (7e-6, 3e-7) date from when options took twice as long: a 5,000-child 60 s
run's steps had 18 s and it ended at 27 s. Reproducible mode takes it from plan 1's share of the
time limit to count its steps without reading the clock."""

BOUND_MIN_S = 3.0
BOUND_S_PER_PAIR = 2e-6
BOUND_S_PER_CHILD = 6e-4
"""Seconds that must be left before the capacity bound and the priced shortlist are worth
making for a large model: ``BOUND_MIN_S`` + these per option pair and per child. The bound,
the followed greedy plan and the shortlist took 11.3 s on 5,000 children's 5M pairs and 18.6 s
on 20,000 children's 5.9M capped options (twenty-second session, on a slow machine for the
latter; 17.6 s and 42.8 s before options were read as arrays and the subgradient skipped there):
x 1.5 for a slow hour, 16 s and 27 s. With less, plan 1 is the valid starting plan without a
whole-model bound (or, with none, the shortlist search): at 1.6e-3 a 20,000-child run whose
options took 62 s returned its followed greedy plan at 76 s of 120."""


OCCUPANCY_SHARE = 0.5
"""Share of plan 1's neighbourhood-search time on a large model given instead to the occupancy
bound (``matcher.occupancy_bound``), which keeps each placement's household rules, when it
cannot run beside the search (one worker, no ``fork``, or a daemon process); made first, as its
households' plan (``matcher.master_plan``) is where the search goes on from. County, one
worker: at 30 s, 41 rounds, bound £1,685,766, plan £1,687,647 (gap 0.11%), where 0.2 made no
rounds at all (fewer than ``OCCUPANCY_MIN_ROUNDS``) and the plan was £1,721,178 (gap 12%); at
60 s it converges and the plan is proven optimal (benchmarks/README.md)."""

OCCUPANCY_ROUND_S = 0.01
OCCUPANCY_ROUND_S_PER_PAIR = 1e-6
"""Seconds a round of the occupancy bound is charged, and per option pair (county's 287k
pairs: 0.25-0.3 s a round, its pricing and the master LP about equal)."""

OCCUPANCY_MAX_ROUNDS = 60
"""Rounds at most after which the bound beside the search makes its plan from the households
when no proof is set aside for (``_guide_rounds``): county's bound converged in 57-64 then
(£1.6865M after 50, £1.6875M at the end). The bound made in line is not capped: it is charged
only the rounds it takes (``_occupancy``)."""

OCCUPANCY_MIN_ROUNDS = 25
"""Fewer rounds than this barely move the bound above the bed bound (on county the first ~15
rounds leave it there while the master gathers sets; a 30 s run's 16 rounds, partly cut by the
clock, reached £1,516,029): the time goes to the neighbourhood search instead. Beside the
search, the bound is started when this many rounds fit in the search's whole time."""

GUIDE_SHARE = 0.6
GUIDE_SLACK = 1.3
"""The bound beside neighbourhood search makes its plan from the households
(``matcher.master_plan``) after the rounds ``GUIDE_SLACK`` x whose charge fits in this share of
the search's time (at most ``OCCUPANCY_MAX_ROUNDS``; sooner if converged), and in reproducible
mode the search takes it once its steps' charge reaches that, waiting for it if need be: a
round count and a point the clock does not move, so runs repeat. The slack covers rounds
slower than charged against steps faster than charged: on 2,000 children (783k pairs) rounds
took ~1 s against 0.79 s charged while steps ran well within theirs, and without slack a 60 s
run waited past its deadline for the plan; 1.5 until the master LP kept its basis between
rounds (``matcher.occupancy_bound._master_parameters``: 0.83-0.86 s there now, county 0.23 s
against 0.297 s charged). County, 30 s: 38 rounds (converged: 68-77)."""

GUIDE_PROOF_SHARE = 0.8
PROOF_MIN_ROUNDS = 70
"""Where at least ``PROOF_MIN_ROUNDS`` rounds, beside a proof's charge
(``matcher.master_plan.PROOF_DETERMINISTIC``), fit in ``GUIDE_PROOF_SHARE`` of the search's
time, the plan from the households is made after those instead, so that the bound may converge
first and the plan be proven optimal (``matcher.master_plan.proven_plan``). County's bound
converges in 65-78 rounds: a 60 s run makes its plan after 87 (at most 60 at
``GUIDE_SHARE``), converged, and proves it optimal; a 30 s run has 24, and keeps its 38 at
``GUIDE_SHARE`` without time set aside."""


FOLLOW_MAX_UNPLACED = 100
"""Children the starting plan may leave unplaced for the greedy plan that follows the bed
relaxation to be tried (``_followed``): the greedy's bed-freeing pass, which following repeats,
tries every placement that could be freed for each of them. On a 1,200-child tight instance,
with 302 unplaced, each pass took 39 s, and the second left the 60 s run no time (gap 0% ->
24%, the wall clock hit); 7 s since the greedy works out each option's cost once
(``matcher.greedy._State.costs_of``). County-20000 leaves 43 (the pass: ~4 s)."""

HOUSEHOLDS_DEARER = 0.05
"""How much dearer than neighbourhood search's plan (a fraction) the plan from the households
may be and still be gone on from (``matcher.lns.Guided.dearer``; the search's plan is kept and
returned if nothing cheaper follows). The households keep the occupancy relaxation's shape,
which the steps alone do not reach: on county-2000 a plan from them 2.1% dearer than the
search's (£2.918M against £2.857M) led to £2.772M in 22 s charged, the search's own to
£2.848M."""

OCCUPANCY_BESIDE_ROUNDS = 500
"""Rounds at most of the occupancy bound in a process beside neighbourhood search (it stops
sooner when converged, ~60 rounds on county, or at plan 1's deadline)."""

OCCUPANCY_MAX_PAIRS = 1_000_000
"""Above this many pairs the occupancy bound is not made: on 5,000 children's 5M pairs a round
took ~12 s and 30 rounds left the bed bound where it was."""


def shortlist(
    instance: Instance,
    cands: Candidates,
    keep: Sequence[dict[str, Outcome]],
    relaxed: CapacityBound | None = None,
    cheapest: int | None = None,
    priced: int | None = None,
) -> Candidates:
    """Each child's ``cheapest`` options (default ``SHORTLIST_SIZE``), its stay, and its
    placement in each of the plans in ``keep`` (the starting plan, earlier ranked plans); with the
    ``relaxed`` bound's prices of beds and staff (``matcher.bounds``) also its ``priced`` cheapest
    at cost plus price (default ``SHORTLIST_PRICED``); for a sibling group's member, where the
    whole group could live cheapest (``_group_shortlist``)."""
    cheapest = SHORTLIST_SIZE if cheapest is None else cheapest
    priced = SHORTLIST_PRICED if priced is None else priced
    costs = dict(option_pence(instance, cands, fees_on_count(instance)))
    together = _group_shortlist(instance, cands, costs, relaxed)
    index = instance.placement_index
    options = {}
    for child, pence in costs.items():
        child_options = cands.options[child]
        columns, _, stays = cands.arrays(instance, child)
        wanted = {plan[child].placement for plan in keep if child in plan}
        wanted |= together.get(child, set())
        # stable sorts: ties go to the earlier option, so the shortlist repeats
        chosen = set(np.argsort(pence, kind="stable")[:cheapest].tolist())
        if relaxed is not None:
            price = relaxed.option_prices(instance, child, columns, exact=True)
            chosen |= set(np.argsort(pence + price, kind="stable")[:priced].tolist())
        wanted_columns = [index[p] for p in wanted if p in index]  # not home nor unplaced
        chosen |= set(np.flatnonzero(stays | np.isin(columns, wanted_columns)).tolist())
        options[child] = [child_options[k] for k in sorted(chosen)]
    return Candidates(options, cands.home_teams)


def _group_shortlist(
    instance: Instance,
    cands: Candidates,
    costs: dict[str, np.ndarray],
    relaxed: CapacityBound | None,
) -> dict[str, set[str]]:
    """For each member of a sibling group, the ``GROUP_SHORTLIST`` placements that could take
    the whole group (``compatibility.group_hosts``) at the least cost to the group (plus bed
    prices, if any). Each member's own cheapest rarely overlap: on county-5000 28 of 68
    preferred groups had no placement in common on the shortlist, 5 on all their options."""
    places: dict[str, set[str]] = {}
    for group_id, hosts in group_hosts(instance, cands).items():
        if not hosts:
            continue
        members = instance.sibling_members[group_id]
        total: dict[str, float] = dict.fromkeys(hosts, 0.0)
        for member in members:
            options = cands.options[member]
            pence = costs[member].astype(float)
            if relaxed is not None:
                columns = cands.arrays(instance, member).columns
                pence = pence + relaxed.option_prices(instance, member, columns, exact=True)
            for option, cost in zip(options, pence.tolist(), strict=True):
                if option.placement in total:
                    total[option.placement] += cost
        ranked = sorted(total, key=lambda p: (total[p], p))[:GROUP_SHORTLIST]
        places.update(dict.fromkeys(members, set(ranked)))
    return places


def core(
    instance: Instance,
    cands: Candidates,
    relaxed: CapacityBound,
    keep: Sequence[dict[str, Outcome]],
    size: int = CORE_SIZE,
) -> tuple[Candidates, frozenset[str]]:
    """The model's core: its shortlist of each child's ``size`` cheapest options at cost plus
    the relaxed bound's prices (with its stay and its placement in each plan of ``keep``), and
    the children who must be placed in it: those with ``size`` options priced below their
    outcome without a placement."""
    placed = set()
    for child, pence in option_pence(instance, cands, fees_on_count(instance)):
        columns = cands.arrays(instance, child).columns
        priced = pence + relaxed.option_prices(instance, child, columns)
        if int((priced < relaxed.alternatives[child]).sum()) >= size:
            placed.add(child)
    short = shortlist(instance, cands, keep, relaxed, cheapest=0, priced=size)
    return short, frozenset(placed)


def usable_outcomes(cands: Candidates, plan: dict[str, Outcome]) -> dict[str, Outcome]:
    """The placements of ``plan`` that are still options tonight: the child is here, the
    placement is among its options (or home with a team that can serve it), and the team may
    serve it. Unplaced children are left out: the greedy plan may place them tonight (a warm
    start that kept them unplaced cost the accepted-plan benchmark 2.7 s)."""
    usable = {}
    for child, outcome in plan.items():
        if child not in cands.options or outcome.placement is None:
            continue
        if outcome.placement == HOME:
            teams: tuple[str, ...] | None = cands.home_teams.get(child, ())
        else:
            option = next(
                (o for o in cands.options[child] if o.placement == outcome.placement), None
            )
            if option is None:
                continue
            teams = option.teams
        if teams is None or outcome.team in teams:
            usable[child] = outcome
    return usable


def _starting_plan(
    instance: Instance,
    cands: Candidates,
    greedy: dict[str, Outcome],
    warm: dict[str, Outcome],
    unplaced: Sequence[str],
) -> dict[str, Outcome]:
    """Where the search starts: the ``greedy`` plan with a warm start's usable outcomes
    (``warm``, ``usable_outcomes``) over it. Where the greedy plan puts a child the warm start
    left ``unplaced`` into a bed the warm start gives another, that plan breaks a rule, and a
    large model then loses neighbourhood search and the bound beside it (tight-small
    warm-started from its optimum: gap 44%, the bed bound's): those children then stay
    unplaced, and if that still breaks a rule, so does every child the warm start does not
    place. The first of these that passes the checker, else the first."""
    start = {**greedy, **warm}
    if not warm or not greedy or _valid_start(instance, cands, start):
        return start
    left = {child: Outcome(None) for child in unplaced if child in greedy}
    nobody = {child: Outcome(None) for child in greedy}
    for fallback in ({**greedy, **left, **warm}, {**nobody, **warm}):
        if _valid_start(instance, cands, fallback):
            return fallback
    return start


def _exclude(pm: PlacementModel, outcomes: dict[str, Outcome], min_difference: int) -> None:
    """Later plans differ from this one in at least ``min_difference`` children's outcomes."""
    same = [pm.variables.outcome(child, o.placement) for child, o in outcomes.items()]
    pm.model.add(cp_model.LinearExpr.sum(same) <= len(same) - min_difference)


@dataclass
class _Run:
    """One ``solve`` call: the instance, its candidates, the clock, and the plans so far."""

    instance: Instance
    cands: Candidates
    settings: SolveSettings
    started: float
    on_progress: ProgressCallback | None
    found: list[dict[str, Outcome]]
    pairs: int
    deterministic_used: float = 0.0
    passed: tuple[dict[str, Outcome], ...] = ()
    """Plans neighbourhood search moved on from while making plan 1 (``Improved.passed``)."""
    seed: dict[str, Outcome] = field(default_factory=dict)
    """The plan whose households the bound beside the search starts from (``_search_large``):
    the greedy plan in a cold run, none when warm-started."""
    wall_limit_hit: bool = False
    """A reproducible step outside ``search`` (neighbourhood search) was stopped by the clock."""

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def wall_left(self) -> float:
        return self.settings.time_limit - self.elapsed()

    def deterministic_left(self) -> float:
        return self.settings.time_limit - self.deterministic_used

    def share(self, rank: int) -> float:
        """The share of the time left that plan ``rank`` gets."""
        plans = self.settings.plans
        if plans == 1:
            return 1.0
        if rank == 1:
            return PLAN_ONE_SHARE
        return 1 / (plans - rank + 1)

    def search(
        self,
        pm: PlacementModel,
        rank: int,
        share: float,
        deterministic_rate: float = 1.0,
        workers: int | None = None,
        subsolvers: tuple[str, ...] | None = None,
        large: bool = False,
    ) -> Search:
        """Search ``pm`` for plan ``rank`` with ``share`` of the time left (of the deterministic
        time, ``deterministic_rate`` x that share), on ``workers`` (default: the settings'),
        ``subsolvers`` and, for a large instance's model, ``large`` (``search_model``)."""
        settings = self.settings if workers is None else replace(self.settings, workers=workers)
        result = search_model(
            pm,
            settings,
            self.wall_left() * share,
            self.deterministic_left() * share * deterministic_rate,
            rank=rank,
            on_progress=self.on_progress,
            offset=self.elapsed(),
            subsolvers=subsolvers,
            large=large,
        )
        self.deterministic_used += result.deterministic_time
        return result

    def starting_model(self, cands: Candidates, start: dict[str, Outcome]) -> PlacementModel:
        """The model on ``cands`` without the earlier plans, hinted with ``start``."""
        pm = build_model(self.instance, cands=cands)
        for plan in self.found:
            _exclude(pm, plan, self.settings.min_difference)
        hint_plan(pm, start)
        if start and not self.found:
            complete_hint(pm, min(self.settings.time_limit * HINT_SHARE, max(self.wall_left(), 0)))
        return pm


def solve(
    instance: Instance,
    settings: SolveSettings | None = None,
    *,
    instance_sha256: str = "",
    on_progress: ProgressCallback | None = None,
    warm_start: dict[str, Outcome] | None = None,
) -> Result:
    """Build the model for ``instance`` and return up to ``settings.plans`` ranked plans.

    ``warm_start`` (e.g. last night's plan) is where the search starts, for the children whose
    outcome there is still an option; the greedy plan fills in the rest. After a stop request
    (``matcher.stopping``) no further plan is searched and the report says ``interrupted``.
    """
    started = time.perf_counter()
    cands = candidates(instance)
    pairs = sum(len(options) for options in cands.options.values())
    settings = settings or SolveSettings()
    # capped options (a huge instance) take the large path: its bound allows for the options
    # left out, where CP-SAT's would hold only for those kept
    threshold = STAFFED_LARGE_PAIRS if instance.staff_limited else LARGE_PATH_PAIRS
    large = pairs > threshold or bool(cands.left_out)
    check_memory(instance.meta.name, len(instance.children), pairs, whole_model=not large)
    run = _Run(instance, cands, settings, started, on_progress, found=[], pairs=pairs)
    greedy = greedy_plan(instance, cands) if settings.starts_from_greedy(instance) else {}
    warm = usable_outcomes(cands, warm_start or {})
    run.seed = {} if warm else greedy
    unplaced = [child for child, outcome in (warm_start or {}).items() if outcome.placement is None]
    start = _starting_plan(instance, cands, greedy, warm, unplaced)
    start_is_valid = functools.cache(lambda: _valid_start(instance, cands, start))
    pm = None if large else run.starting_model(cands, start)
    build_time = run.elapsed()
    plans: list[Plan] = []
    report: SolverReport | None = None
    wall_limit_hit = False
    for rank in range(1, settings.plans + 1):
        if rank > 1 and (stop_requested() or not _time_for_later_plan(run, rank, large)):
            break
        hint = start if rank == 1 else run.found[-1]
        if large:
            search = _search_large(run, rank, hint, improve_first=start_is_valid())
        else:
            assert pm is not None
            if rank == 1 and instance.staff_limited:
                search = _search_core_first(run, pm, start)
            else:
                if rank > 1:
                    hint_plan(pm, hint)
                search = run.search(pm, rank, run.share(rank))
        wall_limit_hit |= settings.reproducible and search.wall_limit_hit
        if rank == 1 and search.outcomes is None and start_is_valid():
            search = _start_as_plan(run, start, search)
        if rank == 1:
            report = _report(search, settings, build_time, pairs, started)
        if search.outcomes is None:
            break
        plan = make_plan(instance, cands, search.outcomes, rank)
        if plans:
            plan = replace(plan, changes_from_best=changes_between(plans[0], plan))
        plans.append(plan)
        if pm is not None:
            _exclude(pm, search.outcomes, settings.min_difference)
        run.found.append(search.outcomes)
    assert report is not None  # the loop always runs rank 1
    wall_limit_hit |= run.wall_limit_hit
    mode = report.mode + (" (wall-clock limit hit)" if wall_limit_hit else "")
    report = replace(
        report,
        mode=mode,
        wall_time_s=round(time.perf_counter() - started, 3),
        warm_start=bool(warm),
        interrupted=stop_requested(),
    )
    plans, report = _ranked(plans, report)
    return Result(instance.meta.name, instance_sha256, report, plans, candidates=cands)


def _search_core_first(run: _Run, pm: PlacementModel, start: dict[str, Outcome]) -> Search:
    """Plan 1 of a staff-limited whole model: first its core (``_search_core``), then the whole
    model from the core's plan with the rest of plan 1's time, for a better plan and the bound."""
    budget = run.deterministic_left() * run.share(1)
    relaxed = capacity_bound(run.instance, run.cands)
    first = _search_cores(run, relaxed, start, CORE_SHARE)
    if first.outcomes is not None:
        hint_plan(pm, first.outcomes)
        complete_hint(pm, run.settings.time_limit * HINT_SHARE)
    # the rest of plan 1's deterministic time, not of its wall time, so runs repeat
    rest = max(budget - first.deterministic_time, 0.0) / max(run.deterministic_left(), 1e-9)
    whole = run.search(pm, 1, min(rest, 1.0), WHOLE_AFTER_CORE_RATE)
    if first.outcomes is None:  # e.g. a core that must place more children than staff allows
        if whole.outcomes is None:
            return replace(whole, bound=None)
        first = replace(first, first_solution_s=whole.first_solution_s)
    best = _best_of(replace(first, bound=None), whole, relaxed.bound)
    return replace(best, shortlist_optimal=False)  # the core is no shortlist explain rebuilds


def _search_cores(
    run: _Run,
    relaxed: CapacityBound,
    start: dict[str, Outcome],
    share: float,
    first_share: float = 1.0,
) -> Search:
    """The core's search (``_search_core``) with the run's seed and, given a second worker,
    with the next seed in a thread beside it: the cheaper plan (the first on a tie), charged
    the first's deterministic time (the two run at once). Which of two tied options CP-SAT
    tries first decides the tightest cores: at 10 s the second seed's plan was the cheaper on
    c20400, e10400 and e20400 (0.19% -> 0.10%, 0.03% -> 0.00%, 0.35% -> 0.25% above the best
    known), on ten other C and E instances of 500-8,000 pairs the plan was the same."""
    if run.settings.workers < 2:
        return _search_core(run, relaxed, start, share, first_share)
    next_seed = replace(run.settings, seed=run.settings.seed + 1)
    scope = SearchScope()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="core") as pool:
        beside = replace(run, settings=next_seed, on_progress=None)
        args = (beside, relaxed, start, share, first_share)
        searched = pool.submit(_in_scope, scope, _search_core, *args)
        try:
            found = _search_core(run, relaxed, start, share, first_share)
        except BaseException:
            scope.stop()  # not left running to its deadline
            raise
        also = searched.result()
    if _found_cheaper(also, found):
        return replace(also, deterministic_time=found.deterministic_time)
    return found


def _found_cheaper(search: Search, than: Search) -> bool:
    """Whether ``search`` found a plan, cheaper than ``than``'s if it found one too."""
    return search.outcomes is not None and (
        than.objective is None or search.objective < than.objective
    )


def _search_core(
    run: _Run,
    relaxed: CapacityBound,
    start: dict[str, Outcome],
    share: float,
    first_share: float = 1.0,
) -> Search:
    """Plan 1's search of the core (``core``) from ``start``, on one worker, with
    ``share`` of plan 1's time. The first search has ``first_share`` of it: with no plan
    by then the core is given up; with one, it goes on from that plan. While a core is solved
    (its optimum proven, or no plan there, e.g. too little staff for those it must place) with
    time to spare, a core of twice as many options per child goes on from its plan
    (``CORE_GROWTH``)."""
    budget = run.deterministic_left() * run.share(1) * share
    size, plan, best = CORE_SIZE, start, NO_SEARCH
    widest = max((len(options) for options in run.cands.options.values()), default=0)
    fraction = first_share  # of the time left, for this search
    while True:
        core_cands, placed = core(run.instance, run.cands, relaxed, [plan], size)
        core_pm = run.starting_model(core_cands, plan)
        for child in sorted(placed):
            core_pm.model.add(core_pm.variables.unplaced[child] == 0)
        left = max(budget - best.deterministic_time, 0.0) * fraction
        found = run.search(
            core_pm,
            1,
            left / max(run.deterministic_left(), 1e-9),
            workers=1,
            subsolvers=CORE_SUBSOLVERS,
        )
        spent = best.deterministic_time + found.deterministic_time
        if _found_cheaper(found, best):
            best = found
        best = replace(best, deterministic_time=spent)
        proven = found.status in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
        if budget - spent < budget * CORE_GROWTH:
            return best
        if proven and size < widest:
            size = size * 2
        elif fraction == 1.0 or found.outcomes is None:
            return best  # not proven: out of time, or given up without a plan
        plan, fraction = plan if best.outcomes is None else best.outcomes, 1.0


def _time_for_later_plan(run: _Run, rank: int, large: bool) -> bool:
    """Whether plan ``rank`` (> 1) is worth searching: on a large model its share of the time
    left must cover making its shortlist model first (``LATER_PLAN_S_PER_CHILD``)."""
    if not large:
        return run.wall_left() > 0.05
    prepare = LARGE_SEARCH_MIN_S + LATER_PLAN_S_PER_CHILD * len(run.instance.children)
    return run.wall_left() * run.share(rank) > prepare


def _ranked(plans: list[Plan], report: SolverReport) -> tuple[list[Plan], SolverReport]:
    """Plans best first. A later search that timed out may beat an earlier one; the plans
    still differ pairwise, and the bound (on the whole model) holds for every plan."""
    order = sorted(plans, key=lambda plan: plan.objective)
    if [plan.rank for plan in order] == [plan.rank for plan in plans]:
        return plans, report
    best = replace(order[0], rank=1, changes_from_best=[])
    ranked = [best] + [
        replace(plan, rank=k, changes_from_best=changes_between(best, plan))
        for k, plan in enumerate(order[1:], start=2)
    ]
    bound = report.best_bound
    optimal = bound is not None and bound >= best.objective
    report = replace(
        report,
        objective=best.objective,
        gap=_gap(best.objective, bound),
        status="OPTIMAL" if optimal else report.status,
    )
    return ranked, report


def _search_large(
    run: _Run, rank: int, hint: dict[str, Outcome], improve_first: bool = False
) -> Search:
    """Plan ``rank`` of a large model: a search on the shortlist; for plan 1 first the capacity
    bound on the whole model (its bed prices widen the shortlist) and, from a valid starting plan
    (``improve_first``), neighbourhood search; then, in fast mode when time allows, a whole-model
    search from the shortlist's plan (skipped in reproducible mode: whether it runs depends on
    the clock)."""
    if rank > 1:
        start, passed = _next_start(run, hint)
        if start is hint:  # excluded: a valid plan next to it instead, if there is one
            start = _nudged(run, hint)
        short_pm = run.starting_model(
            shortlist(run.instance, run.cands, [start, *run.found]), start
        )
        allowance = run.deterministic_left() * run.share(rank)
        rate = LATER_PLAN_DETERMINISTIC_RATE if run.settings.workers > 1 else ONE_WORKER_RATE
        search = run.search(short_pm, rank, run.share(rank), rate, large=True)
        # charged its whole share, so the next plan's does not grow by what this one left
        run.deterministic_used += max(allowance - search.deterministic_time, 0.0)
        if search.outcomes is None and passed is not None:  # valid, and the exclusions allow it
            search = _start_as_plan(run, passed, search)
        return replace(search, bound=None)
    deadline = run.elapsed() + run.wall_left() * run.share(1)
    relaxed = None
    pricing_s = BOUND_MIN_S + BOUND_S_PER_PAIR * run.pairs
    pricing_s += BOUND_S_PER_CHILD * len(run.instance.children)
    if improve_first and deadline - run.elapsed() < pricing_s:
        return _start_as_plan(run, hint, NO_SEARCH)
    if deadline - run.elapsed() >= pricing_s:
        # the subgradient's prices serve only the occupancy bound and the greedy plan at prices
        priced = not improve_first or _occupancy_applies(run)
        target = None  # Polyak steps aim at the starting plan's objective, if there is one
        if improve_first and priced:
            target = to_pence(make_plan(run.instance, run.cands, hint, rank=1).objective)
        relaxed = capacity_bound(run.instance, run.cands, target, subgradient=priced)
    if improve_first and relaxed is not None and not run.instance.staff_limited:
        hint = _followed(run, relaxed, hint)
    if improve_first and deadline - run.elapsed() < LARGE_SEARCH_MIN_S:
        # no time left for a shortlist model: the valid starting plan, with the bound if made
        plan = _start_as_plan(run, hint, NO_SEARCH)
        return plan if relaxed is None else _best_of(plan, None, relaxed.bound)
    fallback = None
    cored = NO_SEARCH
    core_beside: _CoreBeside | None = None
    if not improve_first and relaxed is not None:
        # No valid start (e.g. every placement limited by staff, where the plain greedy is
        # off): the greedy plan at the relaxation's prices. If it places everyone, neighbourhood
        # search improves it; otherwise the shortlist search starts afresh (a hint that leaves
        # children unplaced anchored the search there) and the plan is kept as a fallback.
        core_start, priced = hint, greedy_plan(run.instance, run.cands, relaxed)
        if _valid_start(run.instance, run.cands, priced):
            fallback = priced
            if _places_everyone(priced):
                hint, improve_first = priced, True
        # the core beside neighbourhood search where each has a worker, else first
        if run.instance.staff_limited and improve_first and run.settings.workers > 1:
            core_beside = _start_core_beside(run, relaxed, core_start)
        elif run.instance.staff_limited:
            cored = _search_cores(run, relaxed, core_start, CORE_LARGE_SHARE, CORE_FIRST_SHARE)
            if cored.outcomes is not None and _cheaper(run, cored.outcomes, fallback):
                fallback = cored.outcomes
                if _places_everyone(cored.outcomes):
                    hint, improve_first = cored.outcomes, True
    cands = shortlist(run.instance, run.cands, [hint], relaxed)
    improved = None
    # In reproducible mode neighbourhood search (a step count) takes all the time: a shortlist
    # search after it would be stopped by the clock on county, and the run would not repeat.
    reproducible = run.settings.reproducible
    left = deadline - run.elapsed()
    seconds = (left - LARGE_SEARCH_MIN_S) * LNS_SHARE
    if reproducible:  # a step count from the time limit, not the clock, so the run repeats
        seconds = run.settings.time_limit * run.share(1) - PREAMBLE_S - FINISH_S
        cells = len(run.instance.children) * len(run.instance.placements)
        seconds -= PREAMBLE_S_PER_PAIR * run.pairs + PREAMBLE_S_PER_CELL * cells
        seconds -= cored.deterministic_time
    households = 0  # the occupancy bound (pence), once made
    beside = None
    rounds = 0
    if improve_first and relaxed is not None:
        # The bound beside starts from the greedy plan's households in a cold run: county
        # converged in 65 rounds (13.5 s) from them, 77-78 (~20 s) from none, and 2,000 children
        # had no plan from the households after 25 rounds from none (60 s: gap 6.6% against
        # 0.63%). Warm-started, from none: from a near-optimal plan county took 136-148 rounds,
        # and from the greedy plan a warm 3-plan 60 s run's bound was 1.1% under plan 1 (0.019%
        # from none).
        seeded = run.seed or None
        beside = _occupancy_beside(run, relaxed, seeded, seconds, deadline)
        rounds = 0 if beside is not None else _occupancy_rounds(run, seconds)
    guide = None
    in_line = None
    if beside is not None:
        guide = _guide(run, cands, beside, seconds)
    elif core_beside is not None:
        guide = _core_guide(run, cands, core_beside.searched)
    elif rounds:  # in line, first: its plan from the households may be where the steps start
        in_line = _occupancy(run, relaxed, hint, cands, rounds, deadline - FINISH_S)
        households = in_line.bound
        seconds -= in_line.charged  # in the same currency as the steps
        run.deterministic_used += in_line.charged
        guided = in_line.guided
        guide = Guide(0.0, lambda wait: (True, guided))  # taken (or not) before the first step
    if improve_first and relaxed is not None and (seconds > 0 or in_line is not None):
        # the clock stops the steps in time to make and check the plan; with no time left
        # for steps, the search still takes the plan from the households made in line
        wall_s = (
            deadline - run.elapsed() - FINISH_S - FINISH_S_PER_CHILD * len(run.instance.children)
        )
        # a worker each for neighbourhoods solved at once, but the one a search beside takes
        parallel = max(run.settings.workers - (beside is not None or core_beside is not None), 1)
        try:
            improved = _improve(run, cands, hint, seconds, relaxed.bound, wall_s, guide, parallel)
        except BaseException:
            if beside is not None:  # not left running to its deadline
                beside.result(0.0)
            if core_beside is not None:
                _end_core_beside(core_beside)
            raise
        hint = improved.outcomes  # its placements are all on its options
        cands = improved.cands
        run.passed = improved.passed
    if beside is not None:
        households = beside.result(_beside_wait(run, deadline), stop_requested)
        households = max(households, _proven_bound(run, beside.planned))
        if improved is not None:
            run.passed = _passed_by_proof(run, beside.planned, improved.outcomes) + run.passed
    if in_line is not None and improved is not None:
        run.passed = _passed_by_proof(run, in_line.made, improved.outcomes) + run.passed
    if core_beside is not None:  # asked for by neighbourhood search if it ran; no thread left
        cored = core_beside.searched.result()
        if (
            improved is None
            and cored.outcomes is not None
            and _cheaper(run, cored.outcomes, fallback)
        ):
            fallback = cored.outcomes
    budget = deadline - run.elapsed()
    whole_search = (
        not reproducible
        and not run.cands.left_out  # its bound would not cover the options left out
        and budget * (1 - SHORTLIST_SHARE) >= WHOLE_MODEL_MIN_S
        and fits_in_memory(len(run.instance.children), run.pairs, whole_model=True)
    )
    if improved is not None and (reproducible or budget < LARGE_SEARCH_MIN_S):
        short = NO_SEARCH
    else:
        short_pm = run.starting_model(cands, hint)
        short_share = min(max(budget, 0.0) / max(run.wall_left(), 1e-9), 1.0)
        short = run.search(short_pm, rank, short_share * (SHORTLIST_SHARE if whole_search else 1.0))
    if improved is not None:
        short = _after_improvement(improved, short)
    elif fallback is not None:
        kept = _start_as_plan(run, fallback, short)
        if short.objective is None or kept.objective < short.objective:
            short = kept
    if relaxed is None:
        return replace(short, bound=None, shortlist_optimal=short.status == cp_model.OPTIMAL)
    whole = None
    if whole_search and short.outcomes is not None and not stop_requested():
        pm = build_model(run.instance, cands=run.cands)
        hint_plan(pm, short.outcomes)
        complete_hint(pm, run.settings.time_limit * HINT_SHARE)
        whole = run.search(pm, rank, max(deadline - run.elapsed(), 0.0) / run.wall_left())
    return _best_of(short, whole, max(relaxed.bound, households))


def _followed(run: _Run, relaxed: CapacityBound, start: dict[str, Outcome]) -> dict[str, Outcome]:
    """The greedy plan that follows the bed relaxation's plan where the rules allow
    (``greedy_plan``'s ``follow``), if it is valid and cheaper than ``start``, else ``start``.
    Neighbourhood search from it: county-5000 £7.94M (the greedy plan) -> £7.63M before any
    step, £7.45M after 30 s charged against £7.67M (benchmarks/README.md). Not tried when
    ``start`` leaves more than ``FOLLOW_MAX_UNPLACED`` children unplaced."""
    if sum(outcome.placement is None for outcome in start.values()) > FOLLOW_MAX_UNPLACED:
        return start
    followed = greedy_plan(run.instance, run.cands, follow=relaxed.placed)
    if _cheaper(run, followed, start) and _valid_start(run.instance, run.cands, followed):
        return followed
    return start


def _places_everyone(plan: dict[str, Outcome]) -> bool:
    return all(outcome.placement is not None for outcome in plan.values())


def _cheaper(run: _Run, plan: dict[str, Outcome], other: dict[str, Outcome] | None) -> bool:
    """Whether ``plan`` costs less than ``other`` (None: there is no other plan)."""
    return other is None or _objective(run, plan) < _objective(run, other)


def _objective(run: _Run, plan: dict[str, Outcome]) -> float:
    """The plan's exact objective (pounds)."""
    return make_plan(run.instance, run.cands, plan, rank=1).objective


def _next_start(
    run: _Run, last: dict[str, Outcome]
) -> tuple[dict[str, Outcome], dict[str, Outcome] | None]:
    """Where a later plan's search starts, and the plan that stands if it finds none: the
    latest plan neighbourhood search moved on from (so the cheapest of them) that differs from
    every plan found in at least ``min_difference`` children's placements, a valid plan the
    exclusions allow (None if there is none). The search starts there if it costs at most
    ``NEXT_START_SLACK`` more than the ``last`` plan found, else from that last plan. (Under
    full presolve a 1,200-child tight instance's later searches found none, and the passed
    plan stood as plans 2 and 3.)
    County, 3 plans in 60 s: plans 2 and 3 £1,689,602 and £1,693,099 from the last plan found,
    £1,687,710 and £1,687,835 from plans passed (plan 1: £1,687,700); warm-started, plan 3
    £1,731,712 against £1,687,627."""
    least = run.settings.min_difference
    for plan in run.passed:
        if all(_changed(plan, found) >= least for found in run.found):
            return (plan if _within(run, plan, last, NEXT_START_SLACK) else last), plan
    return last, None


def _nudged(run: _Run, plan: dict[str, Outcome]) -> dict[str, Outcome]:
    """A valid start the later plan's exclusions allow, next to ``plan``: ``min_difference``
    children who are in no placement now (so no move is counted) moved to their cheapest
    other options where nobody lives (``_relocated``), else left unplaced; else ``plan``
    itself."""
    least = run.settings.min_difference
    free = [
        c.id
        for c in run.instance.children
        if c.current_placement is None and plan[c.id].placement is not None
    ]
    if len(free) < least:
        return plan
    moved = _relocated(run, plan, free, least)
    if moved is not None:
        return moved
    nudged = {**plan, **{child: Outcome(None) for child in free[:least]}}
    return nudged if _valid_start(run.instance, run.cands, nudged) else plan


def _relocated(
    run: _Run, plan: dict[str, Outcome], free: list[str], least: int
) -> dict[str, Outcome] | None:
    """``plan`` with ``least`` of the ``free`` children outside sibling groups each moved to
    another option where nobody lives (so no household rule can break), cheapest moves first,
    each kept only if the plan still passes the checker (at most ``NUDGE_TRIES`` checks); None
    if fewer were moved. Leaving a child unplaced instead cost county's plan 3 £4,440 that its
    search never won back; on county the cheapest moves to homes with a free bed broke sole
    occupancy or split a sibling group (benchmarks/README.md)."""
    lived_in = {outcome.placement for outcome in plan.values()}
    empty = {p.id for p in run.instance.placements if p.capacity and not p.residents} - lived_in
    children = run.instance.child_by_id
    alone = [child for child in free if children[child].sibling_group is None]
    subset = Candidates({child: run.cands.options[child] for child in alone}, {})
    moves = []
    for child, pence in option_pence(run.instance, subset, fees_on_count(run.instance)):
        options = subset.options[child]
        now = next((k for k, o in enumerate(options) if o.placement == plan[child].placement), None)
        if now is None:
            continue
        for k, option in enumerate(options):
            if k != now and option.teams is None and option.placement in empty:
                moves.append((int(pence[k] - pence[now]), child, option.placement))
    moves.sort()
    moved: dict[str, Outcome] = dict(plan)
    done: set[str] = set()
    for _, child, placement in moves[:NUDGE_TRIES]:
        if child in done or placement not in empty:
            continue
        trial = {**moved, child: Outcome(placement)}
        if _valid_start(run.instance, run.cands, trial):
            moved = trial
            empty.discard(placement)  # lived in now
            done.add(child)
            if len(done) == least:
                return moved
    return None


def _within(run: _Run, plan: dict[str, Outcome], other: dict[str, Outcome], slack: float) -> bool:
    """Whether ``plan`` costs at most ``slack`` (a share) more than ``other``."""
    return _objective(run, plan) <= _objective(run, other) * (1 + slack)


def _changed(plan: dict[str, Outcome], other: dict[str, Outcome]) -> int:
    """Children whose placement differs between the two plans (as ``_exclude`` counts)."""
    return sum(outcome.placement != other[child].placement for child, outcome in plan.items())


def _occupancy_rounds(run: _Run, seconds: float) -> int:
    """Rounds of the occupancy bound that ``OCCUPANCY_SHARE`` of ``seconds`` buys, or 0 when the
    bound does not apply (staff limits, capped options, too many pairs) or too few fit. Only
    the rounds it takes are charged (``_occupancy``), so rounds allowed beyond convergence
    cost the search nothing (county at 60 s on one worker: 92 allowed, converged in 57-78;
    until the fifteenth session capped at ``OCCUPANCY_MAX_ROUNDS`` and charged all 60)."""
    if not _occupancy_applies(run) or seconds <= 0:
        return 0
    rounds = int(seconds * OCCUPANCY_SHARE / _occupancy_round_s(run))
    return rounds if rounds >= OCCUPANCY_MIN_ROUNDS else 0


def _occupancy_beside(
    run: _Run,
    relaxed: CapacityBound,
    seeded: dict[str, Outcome] | None,
    seconds: float,
    deadline: float,
) -> BoundBeside | None:
    """The occupancy bound, its first master holding ``seeded``'s households if given, started
    in a process beside neighbourhood search, which uses one core: with two workers or more,
    where ``BoundBeside`` can run, when it applies and ``OCCUPANCY_MIN_ROUNDS`` fit in the
    search's ``seconds``; else None."""
    if (
        run.settings.workers < 2
        or not beside_possible()
        or not _occupancy_applies(run)
        or seconds < OCCUPANCY_MIN_ROUNDS * _occupancy_round_s(run)
    ):
        return None
    until = deadline - FINISH_S - run.elapsed()
    rounds, plan_at = OCCUPANCY_BESIDE_ROUNDS, _guide_rounds(run, seconds)[0]
    households = _plan_from_households(run)
    return BoundBeside(run.instance, run.cands, relaxed, rounds, seeded, until, households, plan_at)


def _beside_wait(run: _Run, deadline: float) -> float:
    """Seconds to wait for the bound beside the search once the search is done: none when a
    search follows (fast mode, or later plans: waiting to plan 1's deadline cut a 3-plan 40 s
    county run's later searches by the clock, and waiting until the clock reached the
    deterministic time charged still cut a warm-started 3-plan 60 s run's plan 3); otherwise
    until plan 1's deadline."""
    if not run.settings.reproducible or run.settings.plans > 1:
        return 0.0
    return max(deadline - FINISH_S - run.elapsed(), 0.0)


def _occupancy_applies(run: _Run) -> bool:
    """Whether the occupancy bound is made at all: not under staff limits, capped options or
    more than ``OCCUPANCY_MAX_PAIRS`` pairs."""
    return not (run.instance.staff_limited or run.cands.left_out or run.pairs > OCCUPANCY_MAX_PAIRS)


def _occupancy_round_s(run: _Run) -> float:
    """Seconds a round of the occupancy bound is charged."""
    return OCCUPANCY_ROUND_S + OCCUPANCY_ROUND_S_PER_PAIR * run.pairs


class _InLine(NamedTuple):
    """The occupancy bound made before the search (``_occupancy``): the bound (pence), the plan
    from its households (with the search's options widened to take it), what made it (for
    ``_passed_by_proof``), and the seconds charged for it."""

    bound: int
    guided: Guided | None
    made: MasterPlan | None
    charged: float


def _occupancy(
    run: _Run,
    relaxed: CapacityBound,
    seeded: dict[str, Outcome] | None,
    short: Candidates,
    rounds: int,
    until: float,
) -> _InLine:
    """The occupancy bound after at most ``rounds`` rounds, started from the bed prices (and
    ``seeded``'s households if given), and the plan from its households, proven optimal if it
    can be when they converged (``_plan_from_households``). Charged the rounds it took, not
    those allowed (convergence, not the clock, ends them sooner), and a proof's
    ``PROOF_DETERMINISTIC`` if one was tried. In reproducible mode the clock stops the rounds
    only at ``until`` (a safety net: the run is then marked as hitting it, and no plan is
    made)."""

    def stop() -> bool:
        return run.elapsed() >= until or stop_requested()

    if stop():
        return _InLine(relaxed.bound, None, None, 0.0)
    made: list[MasterPlan | None] = []

    def hear(households: tuple[Household, ...], converged: OccupancyBound | None) -> None:
        made.append(_plan_from_households(run)(households, converged) if households else None)

    bound = occupancy_bound(run.instance, run.cands, relaxed, rounds, seeded, stop, households=hear)
    run.wall_limit_hit |= run.settings.reproducible and bound.stopped and not stop_requested()
    # a converged bound's households go to the proof (``_plan_from_households``)
    charged = bound.rounds * _occupancy_round_s(run) + PROOF_DETERMINISTIC * bound.converged
    if not made or made[0] is None:
        return _InLine(bound.bound, None, None, charged)
    value = max(bound.bound, _proven_bound(run, made[0]))
    return _InLine(value, _guided(run, made[0], short), made[0], charged)


def _plan_from_households(run: _Run) -> PlanFromHouseholds:
    """The plan from the households (``matcher.master_plan``) on this run's instance, options
    and seed; when they are converged, the optimum if it can be proven
    (``matcher.master_plan.proven_plan``)."""

    def plan_from(
        households: tuple[Household, ...], converged: OccupancyBound | None
    ) -> MasterPlan | None:
        seed = run.settings.seed
        made = master_plan(run.instance, run.cands, households, seed=seed)
        if made is None or converged is None:
            return made
        return proven_plan(run.instance, run.cands, made, converged, seed=seed)

    return plan_from


def _proven_bound(run: _Run, made: object) -> int:
    """The bound (pence) ``proven_plan`` reached beside its plan (0 if none), when the plan
    passes the independent checker: a proof resting on a plan that fails it is not trusted."""
    if not isinstance(made, MasterPlan) or made.bound is None:
        return 0
    return made.bound if _valid_start(run.instance, run.cands, made.outcomes) else 0


def _passed_by_proof(
    run: _Run, made: object, outcomes: dict[str, Outcome]
) -> tuple[dict[str, Outcome], ...]:
    """The valid plans the proof's search found on its way to plan 1 (``outcomes``), when plan
    1 is the proof's: neighbourhood search stopped on it, so it passed few plans near it, and
    later plans start from one (``_next_start``). County, 3 plans in 120 s: plans 2 and 3
    £1,700,505 and £1,702,258 from the plans passed before the proof came."""
    if not isinstance(made, MasterPlan) or made.outcomes != outcomes:
        return ()
    return tuple(plan for plan in made.passed if _valid_start(run.instance, run.cands, plan))


def _guided(run: _Run, made: MasterPlan | None, short: Candidates) -> Guided | None:
    """The plan from the households with the options ``short`` widened by its outcomes, or
    None without a plan."""
    if made is None:
        return None
    widened = _widened(run, made.outcomes, short)
    return Guided(made.outcomes, widened, made.chosen, made.optimal, HOUSEHOLDS_DEARER)


def _widened(run: _Run, outcomes: dict[str, Outcome], short: Candidates) -> Candidates:
    """The options ``short`` with each placement of ``outcomes`` added where it is missing."""
    options = dict(short.options)
    for child, outcome in outcomes.items():
        have = {o.placement for o in options[child]}
        if outcome.placement not in (None, HOME) and outcome.placement not in have:
            extra = [o for o in run.cands.options[child] if o.placement == outcome.placement]
            options[child] = [*options[child], *extra]
    return Candidates(options, short.home_teams)


def _guide_rounds(run: _Run, seconds: float) -> tuple[int, float]:
    """Rounds after which the bound beside neighbourhood search makes its plan from the
    households (sooner if they converge), and the seconds set aside for a proof: those
    ``GUIDE_SLACK`` x whose charge fits in ``GUIDE_SHARE`` of the search's ``seconds`` (at most
    ``OCCUPANCY_MAX_ROUNDS``), or, where at least ``PROOF_MIN_ROUNDS`` fit in
    ``GUIDE_PROOF_SHARE`` of them beside a proof's charge, those."""
    round_s = _occupancy_round_s(run)
    proving = (GUIDE_PROOF_SHARE * seconds / GUIDE_SLACK - PROOF_DETERMINISTIC) / round_s
    if proving >= PROOF_MIN_ROUNDS:
        return min(int(proving), OCCUPANCY_BESIDE_ROUNDS), PROOF_DETERMINISTIC
    rounds = GUIDE_SHARE * seconds / (GUIDE_SLACK * round_s)
    return max(min(int(rounds), OCCUPANCY_MAX_ROUNDS), 1), 0.0


def _guide(run: _Run, cands: Candidates, beside: BoundBeside, seconds: float) -> Guide:
    """Neighbourhood search's guide to the plan from the households made beside it: in
    reproducible mode asked for once the steps' charge reaches ``GUIDE_SLACK`` x the charge of
    the rounds it is made after and of a proof (``_guide_rounds``)."""
    rounds, proof_s = _guide_rounds(run, seconds)
    after = GUIDE_SLACK * (rounds * _occupancy_round_s(run) + proof_s)

    def fetch(wait: float) -> tuple[bool, Guided | None]:
        arrived, made = beside.plan(wait, stop_requested)
        return arrived, _guided(run, made if isinstance(made, MasterPlan) else None, cands)

    return Guide(after if run.settings.reproducible else 0.0, fetch)


class _CoreBeside(NamedTuple):
    """The core's search running in a thread beside neighbourhood search, and its scope."""

    searched: Future[Search]
    scope: SearchScope


def _start_core_beside(run: _Run, relaxed: CapacityBound, start: dict[str, Outcome]) -> _CoreBeside:
    """The core's search (``_search_core``, one worker) started in a thread beside
    neighbourhood search (one worker too), on its own account of deterministic time: the two
    run at once. Its progress is not reported (its plan is, once neighbourhood search takes
    it)."""
    scope = SearchScope()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="core")
    try:
        beside = replace(run, on_progress=None)
        args = (beside, relaxed, start, CORE_LARGE_SHARE)
        searched = pool.submit(_in_scope, scope, _search_core, *args)
    finally:
        pool.shutdown(wait=False)  # not waited for here: the thread ends with its search
    return _CoreBeside(searched, scope)


def _end_core_beside(core_beside: _CoreBeside) -> None:
    """Stop the core's search beside neighbourhood search (which failed) and wait for its
    thread, so it is not left running to its deadline."""
    core_beside.scope.stop()
    if not core_beside.searched.cancel():
        wait([core_beside.searched])


def _in_scope(scope: SearchScope, search: Callable[..., Search], *args: object) -> Search:
    """``search(*args)`` with its CP-SAT searches in ``scope`` (to be stopped together)."""
    with scope:
        return search(*args)


def _core_guide(run: _Run, cands: Candidates, searched: Future[Search]) -> Guide:
    """Neighbourhood search's guide to the core's plan: in reproducible mode asked for once the
    steps' charge reaches ``CORE_ASKED_AT`` of the core's deterministic time (so the step it is
    taken at does not depend on the clock), on ``cands`` widened to take it."""
    after = run.deterministic_left() * run.share(1) * CORE_LARGE_SHARE * CORE_ASKED_AT

    def fetch(wait: float) -> tuple[bool, Guided | None]:
        try:
            found = searched.result(timeout=wait)
        except TimeoutError:
            return False, None
        if found.outcomes is None:
            return True, None
        return True, Guided(found.outcomes, _widened(run, found.outcomes, cands))

    return Guide(after if run.settings.reproducible else 0.0, fetch)


def _improve(
    run: _Run,
    cands: Candidates,
    start: dict[str, Outcome],
    seconds: float,
    bound: float,
    wall_seconds: float,
    guide: Guide | None = None,
    parallel: int = 1,
) -> Improved:
    """Neighbourhood search from ``start`` for ``seconds``, reported as plan 1's progress with
    the whole model's ``bound`` (pence), ``parallel`` neighbourhoods at a time; ``guide`` may
    bring a better plan to go on from. In
    reproducible mode it runs a number of steps, which the clock stops after ``wall_seconds``,
    and is charged ``seconds`` to the deterministic budget, or, when a guide's proven optimum
    ended it (a point the clock does not move), only what its steps were charged: the rest goes
    to later plans (county, 3 plans, 60 s: plan 1 proven at ~18 s had been charged ~41 s)."""

    def report(objective: float) -> None:
        if run.on_progress is not None:
            run.on_progress(
                {
                    "plan": 1,
                    "objective": objective,
                    "bound": to_pounds(bound),
                    "wall_time_s": round(run.elapsed(), 3),
                }
            )

    began = run.elapsed()
    improved = improve(
        run.instance, cands, start, run.settings, seconds, report, wall_seconds, guide, parallel
    )
    best = improved.best_solution_s
    improved = replace(
        improved, started_s=began, best_solution_s=None if best is None else began + best
    )
    early = run.settings.reproducible and improved.proven and not improved.wall_limit_hit
    run.deterministic_used += min(improved.charged, seconds) if early else seconds
    run.wall_limit_hit |= improved.wall_limit_hit
    return improved


def _after_improvement(improved: Improved, search: Search) -> Search:
    """The shortlist search that followed neighbourhood search, timed from the valid starting
    plan (the first plan), or neighbourhood search's plan if the shortlist search found none or
    a dearer one (it can, when its hint could not be completed in time)."""
    search = replace(search, first_solution_s=improved.started_s)
    dearer = search.objective is not None and search.objective > to_pence(improved.objective) + 100
    if search.outcomes is not None and not dearer:
        return search
    return replace(
        search,
        status=cp_model.FEASIBLE,
        outcomes=improved.outcomes,
        objective=to_pence(improved.objective),
        bound=None,
        best_solution_s=improved.best_solution_s or improved.started_s,
        wall_limit_hit=improved.wall_limit_hit,
    )


def _valid_start(instance: Instance, cands: Candidates, start: dict[str, Outcome]) -> bool:
    """Whether the starting plan covers every child and passes the independent checker, so it
    can stand as plan 1 when time runs out before the search finds anything (~0.05 s on the
    county instance)."""
    if len(start) != len(instance.children):
        return False
    return not check_plan(instance, make_plan(instance, cands, start, rank=1).to_dict())


def _start_as_plan(run: _Run, start: dict[str, Outcome], search: Search) -> Search:
    """The (valid) starting plan as plan 1, found when it was made; no bound."""
    objective = to_pence(make_plan(run.instance, run.cands, start, rank=1).objective)
    found_at = search.first_solution_s if search.first_solution_s is not None else run.elapsed()
    return replace(
        search,
        status=cp_model.FEASIBLE,
        outcomes=start,
        objective=objective,
        bound=None,
        first_solution_s=found_at,
        best_solution_s=found_at,
    )


def _best_of(short: Search, whole: Search | None, floor: float) -> Search:
    """The shortlist's plan unless the whole-model search beat it, with the best bound on the
    whole model: the capacity bound ``floor`` or the whole-model search's, if higher."""
    best = short
    if whole is not None and whole.objective is not None:
        if short.objective is None or whole.objective < short.objective:
            best = whole
    if best.objective is None:
        return replace(best, bound=None)
    bound = floor
    if whole is not None and whole.bound is not None:
        bound = max(bound, whole.bound)
    runs = [short] if whole is None else [short, whole]
    # The bound's costs are rounded to pence a pair (``matcher.costs``), the plan's objective
    # is exact: a bound at or above the plan proves it optimal up to that rounding.
    optimal = bound >= best.objective
    return replace(
        best,
        status=cp_model.OPTIMAL if optimal else cp_model.FEASIBLE,
        bound=best.objective if optimal else bound,
        first_solution_s=short.first_solution_s,
        best_solution_s=best.best_solution_s,
        deterministic_time=sum(r.deterministic_time for r in runs),
        wall_time=sum(r.wall_time for r in runs),
        wall_limit_hit=any(r.wall_limit_hit for r in runs),
        shortlist_optimal=short.status == cp_model.OPTIMAL,
    )


def _report(
    search: Search, settings: SolveSettings, build_time: float, pairs: int, started: float
) -> SolverReport:
    objective = None if search.objective is None else to_pounds(search.objective)
    bound = None if search.bound is None else to_pounds(search.bound)
    first, best = search.first_solution_s, search.best_solution_s
    return SolverReport(
        status=search.status_name,
        objective=objective,
        best_bound=bound,
        gap=_gap(objective, bound),
        wall_time_s=round(time.perf_counter() - started, 3),
        seed=settings.seed,
        workers=settings.workers,
        mode="reproducible" if settings.reproducible else "fast",
        time_limit_s=settings.time_limit,
        build_time_s=round(build_time, 3),
        first_solution_s=None if first is None else round(first, 3),
        best_solution_s=None if best is None else round(best, 3),
        assignment_variables=pairs,
        shortlist_optimal=search.shortlist_optimal,
    )


def _gap(objective: float | None, bound: float | None) -> float | None:
    """Relative gap between a plan's objective and the bound, as the contract reports it."""
    if objective is None or bound is None:
        return None
    return round(max(objective - bound, 0.0) / max(abs(objective), 1e-9), 6)
