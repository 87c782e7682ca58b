"""The errors the matcher raises on purpose; anything else is a bug."""

from __future__ import annotations

from dataclasses import dataclass


class MatcherError(Exception):
    """Base class of every error the matcher raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One fault in an instance: where it is (file, record, field) and what is wrong."""

    file: str
    record: str
    field: str
    message: str

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.record) if part)
        field = f"field {self.field}: " if self.field else ""
        return f"{where}: {field}{self.message}" if where else f"{field}{self.message}"


class InvalidInstanceError(MatcherError):
    """The instance cannot be used; ``problems`` lists every fault found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = [str(problem) for problem in problems[:20]]
        if len(problems) > 20:
            lines.append(f"... and {len(problems) - 20} more problems")
        super().__init__("\n".join(lines))


class InvalidPlanError(MatcherError):
    """A plan file cannot be read against its instance."""


class StoreError(MatcherError):
    """The database cannot do what was asked: it cannot be opened, a run or plan does not exist,
    a decision does not fit the plan, or another run holds the lock."""
