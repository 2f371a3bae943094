"""The question sets of the original Lumos evaluation, as package data.

`langchain_lumos.evaluation.load_dataset` finds them here; see `README.md` beside this file
for each set's source and licence.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA_DIR"]

DATA_DIR = Path(__file__).parent
"""The folder holding the data files."""
