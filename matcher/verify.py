"""The independent plan checker: every hard constraint and the objective, from the instance alone.

It deliberately shares no code with the model builder (no eligibility, cpsat or units imports): it
reads the plan JSON the way a third party would and re-derives everything from the contract text,
so a bug in the model cannot hide itself by also being in the checker.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from matcher.domain import Child, Placement, Resident
from matcher.instance import Instance

HSB = "harmful_sexual_behaviour"


@dataclass(frozen=True)
class Violation:
    """One broken rule: which constraint family, which record, and what is wrong."""

    rule: str
    record: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.record}: {self.message}"


def great_circle_km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Haversine with R = 6371.0 km, written out independently of the model's vectorised one."""
    lat1, lat2 = math.radians(a_lat), math.radians(b_lat)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin(math.radians(b_lon - a_lon) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def _default_types(age: int) -> set[str]:
    if age >= 18:
        return {"supported"}
    if age >= 16:
        return {"foster", "residential", "supported", "assessment"}
    return {"foster", "residential", "assessment"}


def _who(occupant: Child | Resident) -> str:
    """An occupant's id, or for a resident (who has none) their age."""
    if isinstance(occupant, Child):
        return f"{occupant.id} ({occupant.age})"
    return f"a resident ({occupant.age})"


class PlanChecker:
    """Checks one plan dictionary (contract 3) against one instance."""

    def __init__(self, instance: Instance, plan: dict[str, Any]) -> None:
        self.instance = instance
        self.plan = plan
        self.violations: list[Violation] = []
        self.override = {(d.child, d.placement): d.km for d in instance.distances}
        self.rows: dict[str, dict[str, Any]] = {}

    # -- helpers -----------------------------------------------------------------------------------

    def fail(self, rule: str, record: str, message: str) -> None:
        self.violations.append(Violation(rule, record, message))

    def km(self, child: Child, placement: Placement) -> float:
        if (child.id, placement.id) in self.override:
            return self.override[(child.id, placement.id)]
        return great_circle_km(
            child.location.lat, child.location.lon, placement.location.lat, placement.location.lon
        )

    def is_stay(self, child: Child, placement_id: str | None) -> bool:
        return child.status in ("settled", "at_risk") and placement_id == child.current_placement

    # -- the checks --------------------------------------------------------------------------------

    def run(self) -> list[Violation]:
        if self.check_constraints():
            self.check_objective()
        return self.violations

    def check_constraints(self, focus: Collection[str] | None = None) -> bool:
        """Every hard constraint, not the reported figures. False if the rows cannot be read.

        With ``focus`` (child ids), only those children's own rules and the rules of the
        placements they are at are checked, besides the plan-wide limits: for a valid plan with
        only those children changed, that finds every violation at a fraction of the cost."""
        if not self.read_rows(focus):
            return False
        self.check_placements(self.check_each_child(focus))
        self.check_teams()
        self.check_conflicts_and_siblings()
        self.check_limits()
        return True

    def read_rows(self, focus: Collection[str] | None = None) -> bool:
        """Read the assignment rows; with ``focus``, only those children's rows are checked
        (the others come from a plan already read)."""
        rows = self.plan.get("assignments")
        if not isinstance(rows, list):
            self.fail("plan", "assignments", "missing or not a list")
            return False
        if focus is not None:
            self.rows = {row["child"]: row for row in rows}
            return self.check_rows({c: self.rows[c] for c in focus})
        counts = Counter(row.get("child") for row in rows if isinstance(row, dict))
        for child_id, count in counts.items():
            if count > 1:
                self.fail("plan", f"child {child_id}", f"appears {count} times")
        for row in rows:
            if isinstance(row, dict) and row.get("child") in self.instance.child_by_id:
                self.rows[row["child"]] = row
            else:
                self.fail("plan", f"row {row!r}"[:80], "names no child of the instance")
        for child in self.instance.children:
            if child.id not in self.rows:
                self.fail("plan", f"child {child.id}", "has no assignment row")
        return self.check_rows(self.rows)

    def check_rows(self, rows: dict[str, dict[str, Any]]) -> bool:
        """Each row names a known placement (or home, or none) and a known team."""
        for child_id, row in rows.items():
            where, team = row.get("placement"), row.get("outreach")
            if where not in (None, "home") and where not in self.instance.placement_by_id:
                self.fail("plan", f"child {child_id}", f"unknown placement {where!r}")
            if team is not None and team not in self.instance.team_by_id:
                self.fail("plan", f"child {child_id}", f"unknown outreach team {team!r}")
        return not self.violations

    def check_each_child(self, focus: Collection[str] | None = None) -> dict[str, list[Child]]:
        """Each child's own rules (only the ``focus`` children's, if given); returns who is at
        each placement (only at the focus children's placements, if given)."""
        occupants: dict[str, list[Child]] = defaultdict(list)
        places = {self.rows[c]["placement"] for c in focus or ()} - {None, "home"}
        for child in self.instance.children:
            row = self.rows[child.id]
            if focus is not None and child.id not in focus:
                if row["placement"] in places:  # the others' places are not checked
                    occupants[row["placement"]].append(child)
                continue
            where, team_id = row["placement"], row.get("outreach")
            record = f"child {child.id}"
            team = self.instance.team_by_id.get(team_id) if team_id else None
            if where is None:
                if team is not None:
                    self.fail(
                        "outreach_required", record, "an unplaced child holds no outreach slot"
                    )
                continue
            if where == "home":
                self.check_home(child, team)
                continue
            placement = self.instance.placement_by_id[where]
            occupants[where].append(child)
            self.check_eligible(child, placement, team)
            if team is not None:
                self.check_team_reach(child, placement, team)
            elif child.requires_outreach:
                self.fail("outreach_required", record, "requires outreach but has no slot")
        return occupants

    def check_home(self, child: Child, team: Any) -> None:
        record = f"child {child.id}"
        if not child.return_home:
            self.fail("return_home", record, "returned home without return_home allowed")
        if team is None:
            self.fail("return_home", record, "returned home without an outreach slot")
            return
        km = great_circle_km(
            team.location.lat, team.location.lon, child.location.lat, child.location.lon
        )
        if km > team.radius_km:
            self.fail("return_home", record, f"home is {km:.1f} km from team {team.id}")
        if "home" in child.ruled_out:
            self.fail("return_home", record, "the team ruled out returning home")

    def check_eligible(self, child: Child, placement: Placement, team: Any) -> None:
        record = f"child {child.id} at {placement.id}"
        if placement.type == "supported" and child.age < 16:
            self.fail("eligibility", record, "supported accommodation is 16+ only")
        if child.status == "ending" and placement.id == child.current_placement:
            self.fail("ending_placement", record, "the child's placement is ending")
        if self.is_stay(child, placement.id):
            return
        types = set(child.allowed_types) if child.allowed_types else _default_types(child.age)
        if placement.type not in types:
            self.fail("eligibility", record, f"type {placement.type} is not in the care plan")
        if not placement.age_min <= child.age <= placement.age_max:
            self.fail("eligibility", record, f"age {child.age} outside placement's range")
        if child.sex not in placement.sexes:
            self.fail("eligibility", record, f"sex {child.sex} not taken")
        for need, level in child.needs.items():
            met = placement.meets.get(need, 0)
            if team is not None and (team.needs is None or need in team.needs):
                met += team.uplift
            if met < level:
                self.fail("eligibility", record, f"need {need} level {level} not met")
        cap = child.max_distance_km
        if cap is None:
            cap = self.instance.policy.max_distance_km
        if cap is not None and self.km(child, placement) > cap:
            self.fail("eligibility", record, f"{self.km(child, placement):.2f} km over cap {cap}")
        if placement.id in child.ruled_out:
            self.fail("eligibility", record, "the team ruled this placement out for the child")

    def check_team_reach(self, child: Child, placement: Placement, team: Any) -> None:
        km = great_circle_km(
            team.location.lat, team.location.lon, placement.location.lat, placement.location.lon
        )
        if km > team.radius_km:
            self.fail(
                "outreach_required",
                f"child {child.id}",
                f"{placement.id} is {km:.1f} km from {team.id}",
            )

    def check_placements(self, occupants: dict[str, list[Child]]) -> None:
        rules = self.instance.policy.rules
        for placement_id, ours in occupants.items():
            placement = self.instance.placement_by_id[placement_id]
            record = f"placement {placement_id}"
            everyone: list[Child | Resident] = [*placement.residents, *ours]
            if len(everyone) > placement.capacity:
                names = ", ".join(_who(o) for o in everyone)
                self.fail(
                    "capacity",
                    record,
                    f"{len(everyone)} occupants ({names}), {placement.capacity} beds",
                )
            if placement.staff_capacity is not None:
                used = sum(r.staffing for r in placement.residents)
                used += sum(c.staffing_at.get(placement_id, c.staffing) for c in ours)
                if used > placement.staff_capacity:
                    self.fail(
                        "staff_capacity",
                        record,
                        f"{used} staff units used, {placement.staff_capacity} on hand",
                    )
            for child in ours:
                if child.requires_sole and len(everyone) > 1:
                    self.fail("sole_occupancy", record, f"child {child.id} must live alone")
            mine = {id(c) for c in ours}
            pairs = [
                (x, y)
                for i, x in enumerate(everyone)
                for y in everyone[i + 1 :]
                if id(x) in mine or id(y) in mine
            ]
            if rules.hsb_no_younger:
                for x, y in pairs:
                    for older, younger in ((x, y), (y, x)):
                        if older.needs.get(HSB, 0) >= 1 and younger.age < older.age:
                            self.fail(
                                "hsb_no_younger",
                                record,
                                f"{_who(older)} (harmful sexual behaviour) with "
                                f"younger {_who(younger)}",
                            )
            for rule in rules.incompatible_needs:
                for x, y in pairs:
                    a_b = (
                        x.needs.get(rule.a, 0) >= rule.min_level
                        and y.needs.get(rule.b, 0) >= rule.min_level
                    )
                    b_a = (
                        y.needs.get(rule.a, 0) >= rule.min_level
                        and x.needs.get(rule.b, 0) >= rule.min_level
                    )
                    if a_b or b_a:
                        first, second = (x, y) if a_b else (y, x)
                        self.fail(
                            "incompatible_needs",
                            record,
                            f"{_who(first)} ({rule.a}) with {_who(second)} ({rule.b})",
                        )
            for limit in rules.max_per_placement:
                with_need = [o for o in everyone if o.needs.get(limit.need, 0) >= limit.min_level]
                if len(with_need) > limit.max and any(id(o) in mine for o in with_need):
                    names = ", ".join(_who(o) for o in with_need)
                    self.fail(
                        "max_per_placement",
                        record,
                        f"{len(with_need)} with {limit.need} ({names}), limit {limit.max}",
                    )

    def check_teams(self) -> None:
        load = Counter(row.get("outreach") for row in self.rows.values() if row.get("outreach"))
        for team_id, count in load.items():
            team = self.instance.team_by_id[team_id]
            if count > team.capacity:
                self.fail("outreach_capacity", f"team {team_id}", f"{count} > {team.capacity}")

    def check_conflicts_and_siblings(self) -> None:
        for conflict in self.instance.conflicts:
            a, b = self.rows[conflict.a]["placement"], self.rows[conflict.b]["placement"]
            if a is not None and a != "home" and a == b:
                self.fail("conflicts", f"{conflict.a} and {conflict.b}", f"both at {a}")
        members = self.instance.sibling_members
        for group in self.instance.sibling_groups:
            outcomes = {self.rows[m]["placement"] for m in members.get(group.id, ())}
            if group.together == "required" and len(outcomes) > 1:
                self.fail(
                    "sibling_groups",
                    f"group {group.id}",
                    f"split over {sorted(map(str, outcomes))}",
                )

    def moved(self) -> list[Child]:
        return [
            c
            for c in self.instance.children
            if c.status in ("settled", "at_risk")
            and not self.is_stay(c, self.rows[c.id]["placement"])
        ]

    def check_limits(self) -> None:
        limit = self.instance.policy.max_moves
        if limit is not None:
            moves = len(self.moved())
            if moves > limit:
                self.fail("max_moves", "plan", f"{moves} moves, limit {limit}")
        budget = self.instance.policy.weekly_budget
        if budget is None:
            return
        spent = self.marginal_costs()
        if sum(spent.values()) > budget:
            self.fail("weekly_budget", "plan", f"£{sum(spent.values())} over budget £{budget}")

    def marginal_costs(self) -> dict[str, int]:
        """Each child's weekly money; block beds cover stays first, then input order (README)."""
        block = {p.id: p.block_beds for p in self.instance.placements}
        order = sorted(
            self.instance.children, key=lambda c: not self.is_stay(c, self.rows[c.id]["placement"])
        )
        money = {}
        for child in order:
            row = self.rows[child.id]
            cost = 0
            if row.get("outreach"):
                cost += self.instance.team_by_id[row["outreach"]].weekly_cost
            placement = self.instance.placement_by_id.get(row["placement"] or "")
            if placement is not None:
                if block[placement.id] > 0:
                    block[placement.id] -= 1
                else:
                    cost += placement.weekly_cost
                cost += sum(placement.cost_uplift.get(n, 0) * lv for n, lv in child.needs.items())
            money[child.id] = cost
        return money

    def expected_terms(self) -> dict[str, float]:
        w = self.instance.policy.weights
        terms: dict[str, float] = Counter()
        block = {p.id: p.block_beds for p in self.instance.placements}
        placed_count: Counter[str] = Counter()
        for child in self.instance.children:
            row = self.rows[child.id]
            placement = self.instance.placement_by_id.get(row["placement"] or "")
            if row.get("outreach"):
                terms["outreach"] += self.instance.team_by_id[row["outreach"]].weekly_cost
            if row["placement"] is None:
                terms["unplaced"] += w.unplaced * child.priority
            if placement is not None:
                placed_count[placement.id] += 1
                terms["cost_uplift"] += sum(
                    placement.cost_uplift.get(n, 0) * lv for n, lv in child.needs.items()
                )
                terms["distance"] += w.distance_per_km * self.km(child, placement)
                if not placement.in_area:
                    terms["out_of_area"] += w.out_of_area
        for placement_id, count in placed_count.items():
            placement = self.instance.placement_by_id[placement_id]
            terms["placement_cost"] += placement.weekly_cost * max(count - block[placement_id], 0)
        for child in self.moved():
            terms[f"move_{child.status}"] += getattr(w, f"move_{child.status}")
        for group in self.instance.sibling_groups:
            members = self.instance.sibling_members.get(group.id, [])
            if (
                group.together == "preferred"
                and len({self.rows[m]["placement"] for m in members}) > 1
            ):
                terms["sibling_split"] += w.sibling_split
        terms["block_fixed"] += sum(
            p.block_beds * p.block_weekly_cost for p in self.instance.placements
        )
        return dict(terms)

    def check_objective(self) -> None:
        tolerance = max(1.0, float(len(self.instance.children)))
        expected = self.expected_terms()
        reported = self.plan.get("terms", {})
        for name in set(expected) | set(reported):
            if abs(expected.get(name, 0.0) - float(reported.get(name, 0.0))) > tolerance:
                self.fail(
                    "objective",
                    f"term {name}",
                    f"reported {reported.get(name, 0.0)}, recomputed {expected.get(name, 0.0):.2f}",
                )
        total = sum(expected.values())
        if abs(total - float(self.plan.get("objective", math.nan))) > tolerance:
            self.fail(
                "objective",
                "plan",
                f"reported {self.plan.get('objective')}, recomputed {total:.2f}",
            )
        money = self.marginal_costs()
        for child_id, row in self.rows.items():
            if row.get("weekly_cost") != money[child_id]:
                self.fail(
                    "objective",
                    f"child {child_id}",
                    f"weekly_cost {row.get('weekly_cost')} != {money[child_id]}",
                )
            self.check_action(self.instance.child_by_id[child_id], row)
        fixed = sum(p.block_beds * p.block_weekly_cost for p in self.instance.placements)
        if self.plan.get("weekly_cost") != sum(money.values()) + fixed:
            self.fail("objective", "plan", f"weekly_cost {self.plan.get('weekly_cost')} is wrong")

    def check_action(self, child: Child, row: dict[str, Any]) -> None:
        where = row["placement"]
        if where is None:
            expected = "unplaced"
        elif where == "home":
            expected = "return_home"
        elif self.is_stay(child, where):
            expected = "stay"
        else:
            expected = "new" if child.status == "new" else "move"
        if row.get("action") != expected:
            self.fail(
                "plan", f"child {child.id}", f"action {row.get('action')!r}, expected {expected!r}"
            )


def check_plan(instance: Instance, plan: dict[str, Any]) -> list[Violation]:
    """Every hard-constraint violation and objective mismatch of one plan; empty when valid."""
    return PlanChecker(instance, plan).run()


def check_result(instance: Instance, result: dict[str, Any]) -> list[Violation]:
    """Check every plan of a plan file, their ranking, and the solver status's claims."""
    violations: list[Violation] = []
    plans = result.get("plans", [])
    for plan in plans:
        violations += [
            Violation(v.rule, f"plan {plan.get('rank')}: {v.record}", v.message)
            for v in check_plan(instance, plan)
        ]
    objectives = [plan.get("objective", 0) for plan in plans]
    if objectives != sorted(objectives):
        violations.append(Violation("ranking", "plans", "plans are not ranked best first"))
    solver = result.get("solver", {})
    if solver.get("status") == "OPTIMAL" and solver.get("objective") != solver.get("best_bound"):
        violations.append(Violation("status", "solver", "OPTIMAL but the bound differs"))
    return violations
