"""Every table of the installation: the core models and each capability's (``Capability.models``), for
tools that walk the whole schema (key rotation, retention, backups). Importing this module maps them all
on ``Base.metadata``; ``MODULES`` names the model modules."""

from __future__ import annotations

from types import ModuleType

from tipline.capabilities import CAPABILITIES
from tipline.store import models

MODULES: tuple[ModuleType, ...] = (models, *(m for cap in CAPABILITIES for m in cap.models))
