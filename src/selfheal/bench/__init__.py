"""Benchmark harnesses: the analysis stage measured on public labelled datasets.

``nab`` reads the Numenta Anomaly Benchmark, streams it through a detector and
scores the result; ``rca`` reads the Nezha and PetShop root-cause datasets into
``RCAInput`` values and scores rankings against their labels. Both run the
analysis layer's own code (detectors, ``rank``) and add only reading and
scoring around it.

Only the command line (``selfheal bench ...``) and the scripts under ``bench/``
import this package; the loop and its layers never do (an import-linter
contract in ``pyproject.toml`` keeps it so), and labels read here never reach a
detector or a ranker.
"""
