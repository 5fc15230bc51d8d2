"""Small, self-describing fixtures shared by the tests, the demo and bug reports.

Each fixture carries the values it should produce, so a test can assert real behaviour.
"""

from __future__ import annotations

# Paper Figure 6: standing barbell overhead press; stance too narrow (AK01), open grip (AK02), trunk sway and
# elbow hyperextension while pressing (AK04), lowered too quickly with excessive spinal curvature (AK05).
FIGURE6_EXAMPLE: tuple[str, tuple[str, ...], float] = (
    "standing-barbell-overhead-press",
    ("AK01:ET001", "AK02:ET006", "AK04:ET005", "AK04:ET008", "AK05:ET018", "AK05:ET003"),
    77.02,
)
