"""Small, self-describing fixtures shared by the tests, the demo and bug reports.

Each fixture carries the values it should produce, so a test can assert real behaviour. The makers live next
to the code they exercise; this module gathers them in one place:

- coach: parametric FLEX-21 squat/curl/press sets with injected errors; a clip panning over a photograph; the
  simulator's sets filmed through a camera and written in every keypoint format (OpenPose, COCO, MediaPipe, H36M,
  FLEX), with OpenPose-like noise and a second person walking through;
- data: tiny datasets in the native and official release layouts whose pixels encode their frame index;
- failure: trials whose early fatigue markers foretell a later score collapse;
- signal: breath waveforms, sEMG with bursts at known onsets (+ drift/spikes/hum), rep trajectories;
- synth: one simulated trial (pose, sEMG, physiology, optional video) with its true errors;
- vqa: annotated QA sources with placeholder media, noisy model predictions.
"""

from __future__ import annotations

from flexaqa.coach.formats.synthetic import keypoint_file, walker
from flexaqa.coach.synthetic import SyntheticSet, panned_photo_video, synthetic_set
from flexaqa.data.synthetic import TinyDataset, decode_frame_index, make_tiny_dataset, tiny_trial
from flexaqa.data.video import write_mp4
from flexaqa.failure.synthetic import make_fatigue_trials
from flexaqa.kg import load_kg
from flexaqa.signal.synthetic import make_breath, make_emg, make_rep_trajectory
from flexaqa.synth.generate import synth_trial
from flexaqa.synth.kinematics import PROGRAMS
from flexaqa.synth.render import make_view, render
from flexaqa.synth.simulate import simulate_trial
from flexaqa.synth.subjects import make_roster
from flexaqa.vqa.synthetic import make_predictions as make_vqa_predictions
from flexaqa.vqa.synthetic import make_sources as make_vqa_sources

__all__ = [
    "FIGURE6_EXAMPLE",
    "SyntheticSet",
    "TinyDataset",
    "decode_frame_index",
    "keypoint_file",
    "make_breath",
    "make_emg",
    "make_fatigue_trials",
    "make_rep_trajectory",
    "make_tiny_dataset",
    "make_vqa_predictions",
    "make_vqa_sources",
    "panned_photo_video",
    "rendered_set_video",
    "synth_trial",
    "synthetic_set",
    "tiny_trial",
    "walker",
]

# Paper Figure 6: standing barbell overhead press; stance too narrow (AK01), open grip (AK02), trunk sway and
# elbow hyperextension while pressing (AK04), lowered too quickly with excessive spinal curvature (AK05).
FIGURE6_EXAMPLE: tuple[str, tuple[str, ...], float] = (
    "standing-barbell-overhead-press",
    ("AK01:ET001", "AK02:ET006", "AK04:ET005", "AK04:ET008", "AK05:ET018", "AK05:ET003"),
    77.02,
)


def rendered_set_video(
    path,
    action: str = "squat",
    *,
    reps: int = 2,
    errors: list[dict[str, float]] | None = None,
    view: str = "Phone-side",
    size: tuple[int, int] = (480, 360),
    fps: float = 15.0,
    subject: str = "N01",
    seed: int = 1,
):
    """An H.264 video of a simulated person doing ``reps`` repetitions of ``action`` (the simulator's renderer,
    which MediaPipe detects), written to ``path``; returns ``(path, sim)`` with the true errors in
    ``sim.reps[i].true``."""
    act = load_kg().action(action)
    sim = simulate_trial(
        make_roster([subject], 0)[0], act, reps=reps, seed=seed, fps=30.0, with_signals=False, errors=errors
    )
    step = max(1, round(30.0 / fps))
    frames = render(
        sim.joints[::step],
        make_view(view, width=size[0], height=size[1], fps=fps),
        equipment=act.equipment,
        load=sim.load_kg,
        bench=PROGRAMS[act.slug].bench,
    )
    return write_mp4(path, frames, fps), sim
