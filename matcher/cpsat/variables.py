"""Decision variables: one Boolean per eligible child-placement pair, per return home, per slot.

The few variables besides the assignments carry OR-Tools-style names (``unplaced[child=C1]``);
the assignments (287k on the county instance) do not: nothing reads a name, and naming them cost
~0.4 s of the build. Each child has exactly one outcome (a placement, home, or its ``unplaced``
literal) and at most one outreach slot; those structural constraints are added here because every
other layer relies on them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ortools.sat.python import cp_model, cp_model_helper
from ortools.util.python.sorted_interval_list import Domain

from matcher.domain import Child
from matcher.eligibility import Candidates, Option
from matcher.instance import Instance


@dataclass
class Variables:
    """The model's variables, indexed the ways the constraint families need them."""

    assign: dict[tuple[str, str], cp_model.IntVar] = field(default_factory=dict)
    options: dict[str, list[tuple[Option, cp_model.IntVar]]] = field(default_factory=dict)
    at_placement: dict[str, list[tuple[Child, cp_model.IntVar]]] = field(default_factory=dict)
    """Per placement, our children who may be placed there, with their assignment variables."""
    index_at: dict[str, list[int]] = field(default_factory=dict)
    """Per placement, its assignment variables' indices in the model, ascending (for constraints
    written straight into the proto: reading ``var.index`` cost ~1 us a variable)."""
    first_index: dict[str, int] = field(default_factory=dict)
    """Per child, the index of its first assignment variable: its k-th option's is this + k."""
    needs_slot: dict[str, dict[tuple[str, ...], list[int]]] = field(default_factory=dict)
    """Per child, the indices of its options allowed only with an outreach slot, grouped by the
    teams that could give it (in option order)."""
    home: dict[str, cp_model.IntVar] = field(default_factory=dict)
    slot: dict[tuple[str, str], cp_model.IntVar] = field(default_factory=dict)
    slots_of_child: dict[str, dict[str, cp_model.IntVar]] = field(default_factory=dict)
    stay: dict[str, cp_model.IntVar] = field(default_factory=dict)
    unplaced: dict[str, cp_model.IntVar] = field(default_factory=dict)
    fees_paid: dict[str, cp_model.IntVar] = field(default_factory=dict)
    sibling_split: dict[str, cp_model.IntVar] = field(default_factory=dict)

    def outcome(self, child: str, placement: str | None) -> cp_model.LinearExprT:
        """1 when the child's outcome is ``placement`` ('home', an id, or None for unplaced)."""
        if placement is None:
            return self.unplaced[child]
        if placement == "home":
            return self.home.get(child, 0)
        return self.assign.get((child, placement), 0)


_BOOLEAN = Domain(0, 1)
"""One shared 0-1 domain: ``model.new_bool_var`` builds a new one per call (300k calls)."""


def _bool_var(model: cp_model.CpModel, name: str) -> cp_model.IntVar:
    """A named 0-1 variable on the shared domain."""
    return cp_model.IntVar(model.model_proto).with_name(name).with_domain(_BOOLEAN)


@functools.cache
def _boolean_block(power: int) -> cp_model_helper.CpModelProto:
    """A proto holding ``2**power`` 0-1 variables, made by doubling."""
    block = cp_model.CpModel().proto
    if power == 0:
        block.variables.add().domain.extend([0, 1])
    else:
        block.merge_from(_boolean_block(power - 1))
        block.merge_from(_boolean_block(power - 1))
    return block


def _bool_vars(model: cp_model.CpModel, count: int) -> list[cp_model.IntVar]:
    """``count`` unnamed 0-1 variables, merged into the proto in blocks of powers of two (the
    proto's own copy: 0.55 s for county's 287k against 0.86 s adding them one by one)."""
    proto = model.proto
    first = len(proto.variables)
    for power in range(count.bit_length()):
        if count >> power & 1:
            proto.merge_from(_boolean_block(power))
    return [cp_model.IntVar(proto, index) for index in range(first, first + count)]


def add_variables(model: cp_model.CpModel, instance: Instance, cands: Candidates) -> Variables:
    """Create every variable and the structural constraints: exactly one outcome (a placement,
    home, or unplaced) and at most one slot per child, and a slot only with an outcome that team
    can serve. At a placement with block beds, ``fees_paid`` counts the children beyond them."""
    v = Variables()
    at_placement: dict[str, list[tuple[Child, cp_model.IntVar]]] = {
        p.id: [] for p in instance.placements
    }
    index_at: dict[str, list[int]] = {p.id: [] for p in instance.placements}
    proto = model.proto
    assign = v.assign
    for child in instance.children:
        cid = child.id
        served: dict[str, list[cp_model.IntVar]] = {}
        groups: dict[tuple[str, ...], list[int]] = {}
        options = cands.options[cid]
        first = v.first_index[cid] = len(proto.variables)  # made in one run, in option order
        pairs = list(zip(options, _bool_vars(model, len(options)), strict=True))
        for k, (option, var) in enumerate(pairs, start=first):
            pid = option.placement
            assign[(cid, pid)] = var
            at_placement[pid].append((child, var))
            index_at[pid].append(k)
            if option.stay:
                v.stay[cid] = var
            if option.teams is not None:
                for team in option.teams:
                    served.setdefault(team, []).append(var)
                groups.setdefault(option.teams, []).append(k)
        v.options[cid] = pairs
        v.needs_slot[cid] = groups
        if child.id in cands.home_teams:
            home = model.new_bool_var(f"return_home[child={child.id}]")
            v.home[child.id] = home
            for team in cands.home_teams[child.id]:
                served.setdefault(team, []).append(home)
        slots = {
            team: model.new_bool_var(f"outreach[child={child.id},team={team}]")
            for team in sorted(served)
        }
        v.slots_of_child[child.id] = slots
        for team, slot in slots.items():
            v.slot[(child.id, team)] = slot
            model.add_bool_or([~slot, *served[team]])  # a clause: 2.7x faster to build
        v.unplaced[cid] = _bool_var(model, f"unplaced[child={cid}]")
        literals = [var for _, var in v.options[cid]]
        if cid in v.home:
            literals.append(v.home[cid])
        model.add_exactly_one([*literals, v.unplaced[cid]])
        if len(slots) > 1:
            model.add_at_most_one(slots.values())
    v.at_placement = {pid: pairs for pid, pairs in at_placement.items() if pairs}
    v.index_at = {pid: indices for pid, indices in index_at.items() if indices}
    for placement in instance.placements:
        occupants = v.at_placement.get(placement.id, [])
        if placement.block_beds and placement.weekly_cost and occupants:
            beds = max(placement.capacity - len(placement.residents), 0)
            paid = model.new_int_var(0, beds, f"fees_paid[placement={placement.id}]")
            placed_here = cp_model.LinearExpr.sum([var for _, var in occupants])
            model.add(paid >= placed_here - placement.block_beds)
            v.fees_paid[placement.id] = paid
    for group in instance.sibling_groups:
        if group.together == "preferred" and len(instance.sibling_members.get(group.id, [])) > 1:
            v.sibling_split[group.id] = model.new_bool_var(f"sibling_split[group={group.id}]")
    return v
