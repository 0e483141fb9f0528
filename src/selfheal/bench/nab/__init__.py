"""The Numenta Anomaly Benchmark (NAB): reading its corpus, running a detector, scoring.

Used by ``selfheal bench nab`` to judge the detectors of the analysis stage
on real labelled data. The scorer is written from NAB's published definition
(Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms — the
Numenta Anomaly Benchmark", ICMLA 2015). Labels are read here, by the
benchmark, and never by a detector.
"""

from selfheal.bench.nab.corpus import NabFile, load_corpus, load_profiles
from selfheal.bench.nab.scorer import (
    CorpusScore,
    Profile,
    scaled_sigmoid,
    score_corpus,
)

__all__ = [
    "CorpusScore",
    "NabFile",
    "Profile",
    "load_corpus",
    "load_profiles",
    "scaled_sigmoid",
    "score_corpus",
]
