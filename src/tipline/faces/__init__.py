"""Faces for victim identification: off by default (``TIPLINE_FACES_ENABLED``), audited at every step."""
