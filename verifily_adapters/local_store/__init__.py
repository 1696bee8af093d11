"""Local filesystem ArtifactStore: run folders under a root directory, atomic writes."""
