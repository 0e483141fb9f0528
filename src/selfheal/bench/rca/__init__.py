"""The root-cause benchmark: public labelled RCA datasets read as ``RCAInput`` values.

Used by ``selfheal bench rca`` (and the scripts under ``bench/``); the loop
never calls it. The readers (``nezha``, ``petshop``, gathered by ``cases``)
read only the telemetry and the columns a ranker may see (the incident's time,
or the SLI that went bad); the label columns are read separately by the
benchmark's scorer (``labels``) and never reach the ranker.
"""
