"""tipline: open-source hotline software against cybersex trafficking.

Reports come in (public form, platform JSON API, CyberTipline XML API, live-stream panic button),
are stored durably, have their identifiers extracted, are scored by editable triage rules, and reach an
analyst's queue with the most urgent report on top and the reasons why.
"""

__version__ = "0.1.0"
