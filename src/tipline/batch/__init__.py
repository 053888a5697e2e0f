"""Batch jobs over large tables, beside the transactional database.

The transactional database (SQLite or PostgreSQL) answers the doors and the pages; a job that reads a
whole table (degree statistics over every identifier, an export for a partner, a periodic relink of ads
and payments) runs here instead, on a *snapshot*: the tables it needs, copied in chunks into Parquet
files (:mod:`tipline.batch.snapshot`), so the job never holds a transaction open on the live database.
A job is an Ibis expression over the snapshot's tables (:class:`~tipline.batch.jobs.Job`), so the same
job runs on:

- **DuckDB** (the embedded default, in this process, no server), or
- **Spark** (``TIPLINE_BATCH_ENGINE=spark``, ``TIPLINE_SPARK_MASTER``: ``local[2]`` or a cluster URL)
  for tables larger than one machine.

Don'ts: a job never writes to the transactional database (it returns rows; a service decides what to
keep), never reads sealed columns (the snapshot leaves them out: they would be ciphertext anyway), and
never calls the network beyond the configured Spark master.
"""
