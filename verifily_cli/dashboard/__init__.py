"""The Gradio dashboard over the ArtifactStore port (``verifily dashboard``).

Importing this package turns Gradio's analytics and version lookups off before any module imports
gradio, so nothing reaches out to the internet at start-up, and picks matplotlib's headless
backend, since the server has no display.
"""

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("MPLBACKEND", "Agg")
