"""Value types shared by every layer: label sets, matchers, batches, series, protocols."""

from obskit.model.batch import AppendResult, SampleBatch
from obskit.model.labels import METRIC_NAME, Labels, LabelsLike, make_labels, validate_labels
from obskit.model.matchers import Matcher, MatchType
from obskit.model.series import Series, SeriesColumns

__all__ = [
    "METRIC_NAME",
    "AppendResult",
    "Labels",
    "LabelsLike",
    "MatchType",
    "Matcher",
    "SampleBatch",
    "Series",
    "SeriesColumns",
    "make_labels",
    "validate_labels",
]
