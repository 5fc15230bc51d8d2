"""The FLEX data layer: typed sample model, readers and writers for the official release layout and flexaqa's
native layout, splits, validation, Croissant metadata, statistics and (with torch) PyTorch datasets.

Writers: :func:`write_trial` + :func:`finalize_dataset` (native), :class:`ReleaseWriter` (official layout).
Readers: :func:`open_dataset` picks :class:`NativeDataset` or :class:`ReleaseDataset`. PyTorch datasets live in
:mod:`flexaqa.data.datasets`. ``import flexaqa.data`` stays light: PyAV, mlcroissant and torch are imported only inside the functions and
classes that need them (extras ``video``, ``croissant`` and ``train``).
"""

from flexaqa.data.base import DatasetSource, open_dataset
from flexaqa.data.cache import FeatureCache, build_feature_cache
from flexaqa.data.featurestore import FeatureReader, FeatureStore, migrate_cache
from flexaqa.data.native import NativeDataset, finalize_dataset, write_trial
from flexaqa.data.release import ReleaseDataset, ReleaseWriter
from flexaqa.data.schema import (
    FLEX_SUBJECT_IDS,
    FLEX_VIEWS,
    MODALITIES,
    SKILL_LEVELS,
    Annotation,
    AnnotatorLabel,
    Camera,
    CorruptSampleError,
    DataError,
    Keyframes,
    PhaseSpan,
    Sample,
    SampleRecord,
    Stream,
    Subject,
    Trial,
    View,
    flex_roster,
    sample_id,
    skill_of,
    trial_id,
)
from flexaqa.data.splits import PROTOCOLS, generate_splits, get_splits
from flexaqa.data.validate import Problem, validate_dataset

__all__ = [
    "FLEX_SUBJECT_IDS",
    "FLEX_VIEWS",
    "MODALITIES",
    "PROTOCOLS",
    "SKILL_LEVELS",
    "Annotation",
    "AnnotatorLabel",
    "Camera",
    "CorruptSampleError",
    "DataError",
    "DatasetSource",
    "FeatureCache",
    "FeatureReader",
    "FeatureStore",
    "Keyframes",
    "NativeDataset",
    "PhaseSpan",
    "Problem",
    "ReleaseDataset",
    "ReleaseWriter",
    "Sample",
    "SampleRecord",
    "Stream",
    "Subject",
    "Trial",
    "View",
    "build_feature_cache",
    "finalize_dataset",
    "flex_roster",
    "generate_splits",
    "get_splits",
    "migrate_cache",
    "open_dataset",
    "sample_id",
    "skill_of",
    "trial_id",
    "validate_dataset",
    "write_trial",
]
