"""MLflow tracker: the ``mlflow:`` section; a run, its metrics, hashes and files, and a model version."""
