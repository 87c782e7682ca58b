"""The CP-SAT model, built in named layers: variables, constraint families, objective."""

from matcher.cpsat.constraints import CONSTRAINT_FAMILIES, FAMILY_NAMES
from matcher.cpsat.model import PlacementModel, build_model

__all__ = ["CONSTRAINT_FAMILIES", "FAMILY_NAMES", "PlacementModel", "build_model"]
