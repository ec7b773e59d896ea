"""Where a run's results live: layout, storage, manifest, flattening and publication checks.

- :mod:`~raydistill.output.storage`: local paths and ``s3://`` as pyarrow filesystems.
- :mod:`~raydistill.output.location`: the output layout, staging and committing parts.
- :mod:`~raydistill.output.manifest`: the run manifest (resume or refuse).
- :mod:`~raydistill.output.flatten`: one row per sample for ``all/``.
- :mod:`~raydistill.output.checks`: exactly-once coverage and the error budget.
"""
