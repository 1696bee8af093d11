"""Run folders in object storage (``s3://``, ``gs://``, ``az://``) through fsspec."""
