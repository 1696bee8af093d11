"""Registers the local filesystem store; cheap to import."""

from verifily_core.plugins.hookspecs import hookimpl


@hookimpl
def verifily_register_artifact_store() -> type:
    from verifily_adapters.local_store.store import LocalArtifactStore

    return LocalArtifactStore
