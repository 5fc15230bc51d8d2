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

# --- data layer: tiny datasets in the native and official release layouts (flexaqa.data.synthetic) ---
# --- coach: parametric FLEX-21 squat/curl/press sets with injected errors, a panned photo clip (flexaqa.coach) ---
from flexaqa.coach.synthetic import SyntheticSet, panned_photo_video, synthetic_set  # noqa: E402, F401
from flexaqa.data.synthetic import TinyDataset, decode_frame_index, make_tiny_dataset, tiny_trial  # noqa: E402, F401

# --- signal: sEMG with bursts at known onsets (+ drift/spikes/hum), rep trajectories with keyframes (flexaqa.signal) ---
# --- synth: a simulated trial (pose, sEMG, physiology, optional video) with known true errors (flexaqa.synth) ---
# --- VideoQA: annotated QA sources with placeholder media, noisy model predictions (flexaqa.vqa.synthetic) ---
from flexaqa.vqa.synthetic import make_predictions as make_vqa_predictions  # noqa: E402, F401
from flexaqa.vqa.synthetic import make_sources as make_vqa_sources  # noqa: E402, F401
