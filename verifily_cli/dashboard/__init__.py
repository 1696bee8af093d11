"""The Gradio dashboard over the ArtifactStore port."""
