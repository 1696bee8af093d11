"""Registers the Optuna study engine; cheap to import (Optuna loads when a study opens)."""

from verifily_core.plugins.hookspecs import hookimpl


@hookimpl
def verifily_register_study_engine() -> type:
    from verifily_adapters.optuna_study.study import OptunaStudyEngine

    return OptunaStudyEngine
