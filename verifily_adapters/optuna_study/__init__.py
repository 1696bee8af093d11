"""The Optuna study engine (``optuna``): studies in an SQLAlchemy database (SQLite by default, any
Optuna RDB URL with ``verifily tune --storage``), heartbeats for trials of other machines, and
worker liveness by process id for this one."""
