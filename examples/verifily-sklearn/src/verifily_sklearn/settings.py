"""``plugins.sklearn`` in a config: the logistic regression's settings, checked by Verifily.

Kept out of ``hooks.py`` (imported by every ``verifily`` command) so that the hooks module stays
free of pydantic models; the hook imports this module only when a config is checked.
"""

from __future__ import annotations

from pydantic import Field

from verifily_core.config import PluginSettings


class SklearnSettings(PluginSettings):
    max_iter: int = Field(1000, gt=0, description="most solver iterations of the logistic regression")
    C: float = Field(1.0, gt=0, description="inverse regularisation strength (smaller: simpler model)")
