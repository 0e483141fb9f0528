"""Readers that turn public labelled RCA datasets into ``RCAInput`` values.

Used by ``selfheal bench rca`` only; the loop never calls them. Each reader
reads only the telemetry and the columns a ranker may see (the incident's time,
or the SLI that went bad); the label columns are read separately by the
benchmark's scorer (``labels.py``) and never reach the ranker.
"""
