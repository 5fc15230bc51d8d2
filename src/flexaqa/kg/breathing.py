"""The breathing rule of the knowledge graph (paper section 7.4), written down once.

The keysteps prescribe exhaling during the effort (concentric phase) and inhaling while lowering (eccentric).
Inhaling through a concentric phase is error ET014 ("Inhalation"), exhaling through an eccentric phase ET017
("Exhalation"). The KG loader checks that these errors sit in their phase, :mod:`flexaqa.signal.physio` detects
them in a breath waveform and :mod:`flexaqa.synth` simulates them, all from :data:`BREATHING`.

>>> BREATHING["concentric"], BREATHING_ERROR_PHASE["ET017"]
((-1, 'ET014'), 'eccentric')
"""

from __future__ import annotations

INHALE, HOLD, EXHALE = 1, 0, -1  # the sign of a breath waveform's slope (chest expansion rises on inhaling)

# movement phase -> (the breath the keysteps prescribe, the error code when the opposite breath dominates)
BREATHING: dict[str, tuple[int, str]] = {"concentric": (EXHALE, "ET014"), "eccentric": (INHALE, "ET017")}
# breathing error code -> the only phase it can be annotated in
BREATHING_ERROR_PHASE: dict[str, str] = {code: phase for phase, (_, code) in BREATHING.items()}
