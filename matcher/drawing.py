"""Figures for the report, stress and benchmark plots: matplotlib ``Figure`` objects saved
straight to files (no pyplot, no screen, no internet). matplotlib is imported with the first
figure; importing it at start-up added ~0.9 s to every command, most of which never draw."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches; add axes with ``figure.subplots``."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def save_figure(figure: Figure, path: Path) -> None:
    """Lay ``figure`` out and write it to ``path`` (the format follows the suffix)."""
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
