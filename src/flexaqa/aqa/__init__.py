"""AQA on FLEX end to end: per-modality feature extraction into the feature cache, per-action training of the
scoring heads of :mod:`flexaqa.models`, evaluation (paper Table 4 protocol), prediction with errors and feedback,
and the Table-4 benchmark.

Modules: :mod:`flexaqa.aqa.features` (numpy core, torch only inside the encoders), :mod:`flexaqa.aqa.runs`
(train / eval / predict, needs the ``train`` extra), :mod:`flexaqa.aqa.bench` (the Table-4 protocol). The CLI
(``flexaqa train|eval|predict|bench aqa``) lives in :mod:`flexaqa.aqa._cli`. ``import flexaqa.aqa`` is light.
"""

from flexaqa.errors import FlexaqaError


class AQAError(FlexaqaError, ValueError):
    """A training, evaluation or prediction request that cannot work: unknown model or variant, a modality the
    variant needs but the dataset lacks, an empty split, a run folder that is not a flexaqa AQA run."""


__all__ = ["AQAError"]
