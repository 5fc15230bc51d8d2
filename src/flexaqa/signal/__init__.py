"""Signal processing on arrays (time on axis 0): sEMG conditioning and bursts, FLEX EMG features, Video2EMG
alignment, stream synchronisation, repetition/phase segmentation, physiology and streaming variants.

>>> from flexaqa.signal import make_emg, find_bursts
>>> rec = make_emg(n_bursts=3, duration=8.0)
>>> bursts, _ = find_bursts(rec.emg, rec.fs)
>>> bursts.count().tolist()
[3, 3]

Names load lazily (PEP 562), so ``import flexaqa.signal`` and the ``flexaqa emg`` CLI stay light until a function
is used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SignalError": "flexaqa.signal._common",
    "Bursts": "flexaqa.signal.bursts",
    "BurstThresholds": "flexaqa.signal.bursts",
    "FatigueSummary": "flexaqa.signal.bursts",
    "burst_frequencies": "flexaqa.signal.bursts",
    "burst_thresholds": "flexaqa.signal.bursts",
    "detect_bursts": "flexaqa.signal.bursts",
    "fatigue_summary": "flexaqa.signal.bursts",
    "find_bursts": "flexaqa.signal.bursts",
    "refine_edges": "flexaqa.signal.bursts",
    "EmgConfig": "flexaqa.signal.emg",
    "ProcessedEmg": "flexaqa.signal.emg",
    "bandpass": "flexaqa.signal.emg",
    "highpass": "flexaqa.signal.emg",
    "linear_envelope": "flexaqa.signal.emg",
    "lowpass": "flexaqa.signal.emg",
    "mean_frequency": "flexaqa.signal.emg",
    "median_frequency": "flexaqa.signal.emg",
    "normalize": "flexaqa.signal.emg",
    "notch": "flexaqa.signal.emg",
    "process_emg": "flexaqa.signal.emg",
    "rectify": "flexaqa.signal.emg",
    "remove_dc": "flexaqa.signal.emg",
    "rms_envelope": "flexaqa.signal.emg",
    "spectral_frequencies": "flexaqa.signal.emg",
    "suppress_spikes": "flexaqa.signal.emg",
    "windowed_frequencies": "flexaqa.signal.emg",
    "OFFICIAL_CONTRIBUTION_COLUMNS": "flexaqa.signal.features",
    "contribution_columns": "flexaqa.signal.features",
    "emg_per_frame": "flexaqa.signal.features",
    "relative_muscle_contribution": "flexaqa.signal.features",
    "relative_muscle_contribution_envelope": "flexaqa.signal.features",
    "resample": "flexaqa.signal.features",
    "read_recording": "flexaqa.signal.io",
    "ExertionSummary": "flexaqa.signal.physio",
    "PhaseBreathing": "flexaqa.signal.physio",
    "breath_phase": "flexaqa.signal.physio",
    "breathing_by_phase": "flexaqa.signal.physio",
    "exertion_summary": "flexaqa.signal.physio",
    "smooth_heart_rate": "flexaqa.signal.physio",
    "REP_SIGNALS": "flexaqa.signal.segment",
    "PhaseSegment": "flexaqa.signal.segment",
    "RepSignal": "flexaqa.signal.segment",
    "Segmentation": "flexaqa.signal.segment",
    "SegmentationReport": "flexaqa.signal.segment",
    "rep_signal": "flexaqa.signal.segment",
    "segment_emg": "flexaqa.signal.segment",
    "segment_pose": "flexaqa.signal.segment",
    "segment_signal": "flexaqa.signal.segment",
    "segmentation_report": "flexaqa.signal.segment",
    "BurstEvent": "flexaqa.signal.stream",
    "RepEvent": "flexaqa.signal.stream",
    "StreamingBurstDetector": "flexaqa.signal.stream",
    "StreamingEnvelope": "flexaqa.signal.stream",
    "StreamingRepCounter": "flexaqa.signal.stream",
    "OffsetEstimate": "flexaqa.signal.sync",
    "Stream": "flexaqa.signal.sync",
    "align_streams": "flexaqa.signal.sync",
    "common_window": "flexaqa.signal.sync",
    "cut_window": "flexaqa.signal.sync",
    "estimate_offset": "flexaqa.signal.sync",
    "pose_speed": "flexaqa.signal.sync",
    "SyntheticEmg": "flexaqa.signal.synthetic",
    "SyntheticTrial": "flexaqa.signal.synthetic",
    "make_breath": "flexaqa.signal.synthetic",
    "make_emg": "flexaqa.signal.synthetic",
    "make_rep_trajectory": "flexaqa.signal.synthetic",
}

__all__ = [
    "OFFICIAL_CONTRIBUTION_COLUMNS",
    "REP_SIGNALS",
    "BurstEvent",
    "BurstThresholds",
    "Bursts",
    "EmgConfig",
    "ExertionSummary",
    "FatigueSummary",
    "OffsetEstimate",
    "PhaseBreathing",
    "PhaseSegment",
    "ProcessedEmg",
    "RepEvent",
    "RepSignal",
    "Segmentation",
    "SegmentationReport",
    "SignalError",
    "Stream",
    "StreamingBurstDetector",
    "StreamingEnvelope",
    "StreamingRepCounter",
    "SyntheticEmg",
    "SyntheticTrial",
    "align_streams",
    "bandpass",
    "breath_phase",
    "breathing_by_phase",
    "burst_frequencies",
    "burst_thresholds",
    "common_window",
    "contribution_columns",
    "cut_window",
    "detect_bursts",
    "emg_per_frame",
    "estimate_offset",
    "exertion_summary",
    "fatigue_summary",
    "find_bursts",
    "highpass",
    "linear_envelope",
    "lowpass",
    "make_breath",
    "make_emg",
    "make_rep_trajectory",
    "mean_frequency",
    "median_frequency",
    "normalize",
    "notch",
    "pose_speed",
    "process_emg",
    "read_recording",
    "rectify",
    "refine_edges",
    "relative_muscle_contribution",
    "relative_muscle_contribution_envelope",
    "remove_dc",
    "rep_signal",
    "resample",
    "rms_envelope",
    "segment_emg",
    "segment_pose",
    "segment_signal",
    "segmentation_report",
    "smooth_heart_rate",
    "spectral_frequencies",
    "suppress_spikes",
    "windowed_frequencies",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flexaqa.signal' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
