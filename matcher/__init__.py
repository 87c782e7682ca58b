"""Placement matcher: ranked, explained placement plans for children's social care on CP-SAT."""

from matcher.exceptions import InvalidInstanceError, MatcherError
from matcher.instance import Instance
from matcher.io import read_instance, write_instance

__all__ = ["Instance", "InvalidInstanceError", "MatcherError", "read_instance", "write_instance"]
__version__ = "0.1.0"
