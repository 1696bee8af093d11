"""Registers the object-storage store (``store: fsspec``, picked for ``s3://`` and other URLs); cheap
to import: fsspec and its filesystems are imported when a store is built."""

from verifily_core.plugins.hookspecs import hookimpl


@hookimpl
def verifily_register_artifact_store() -> type:
    from verifily_adapters.fsspec_store.store import FsspecArtifactStore

    return FsspecArtifactStore
