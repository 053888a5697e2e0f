"""Classified-ads analysis: import ads as evidence, cluster the ads one poster wrote from one template,
grade indicators by the research behind them, follow a template, phone or handle across cities.

Domain modules (no database): :mod:`.shingles`, :mod:`.cluster`, :mod:`.template`, :mod:`.indicators`,
:mod:`.movement`, :mod:`.parse` (import lines). :mod:`.engine` turns ad records into cluster summaries
on the default engine; :mod:`.spark` does the same on Apache Spark.
"""
