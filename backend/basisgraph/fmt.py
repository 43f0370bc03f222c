"""The one rounding rule for counts shown as text: CLI tables, preview images and the page.

Whole numbers print as they are, anything else with one decimal. Exact ties round half up,
as JavaScript's `toFixed` does in frontend/js/format.js, so a median of 8.25 reads 8.3 in the
terminal, in the image and on the page alike (Python's own formatting would give 8.2).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["format_count"]


def format_count(v: float | None, missing: str = "-") -> str:
    """'314.5', '87', '8.3' for 8.25; `missing` for None."""
    if v is None:
        return missing
    if float(v).is_integer():
        return str(int(v))
    # Decimal(v) is the float's exact binary value, which is what toFixed rounds.
    s = str(Decimal(float(v)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return s.removesuffix(".0")
