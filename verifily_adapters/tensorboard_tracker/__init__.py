"""TensorBoard tracker: scalar event files in the run's ``logs/`` folder."""
