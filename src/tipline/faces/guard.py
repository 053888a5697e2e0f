"""The rules every face search function checks first: the feature is on, and the "same person?" bands."""

from __future__ import annotations

from tipline.settings import Settings

__all__ = ["BANDS", "FacesDenied", "FacesDisabled", "band", "require_enabled"]

# "same person?" bands over the embedding distance (dlib's ResNet: 0.6 is its same-person threshold, 99.38%
# on LFW). Measured on the sample photos of tests/data/faces: the same person 0.36-0.41 and after edits up to
# 0.45; different people 0.81-0.85. A band is advice to a person, never a decision.
BANDS = ((0.40, "very likely"), (0.50, "likely"), (0.60, "possible"))


class FacesDisabled(RuntimeError):
    """Face search is switched off in this installation."""

    def __init__(self) -> None:
        super().__init__(
            "face search is off in this installation (TIPLINE_FACES_ENABLED=false): nothing is detected, "
            "enrolled or searched. An administrator switches it on only with a legal basis for it."
        )


class FacesDenied(PermissionError):
    """The caller may not do this (face search is for supervisors)."""


def band(distance: float, threshold: float) -> str:
    """The calibrated "same person?" band of a distance ("unlikely" past the threshold)."""
    if distance > threshold:
        return "unlikely"
    for limit, word in BANDS:
        if distance <= limit:
            return word
    return "possible"


def require_enabled(settings: Settings) -> None:
    if not settings.faces_enabled:
        raise FacesDisabled()
