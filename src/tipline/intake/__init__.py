"""Intake: every door (public form, platform JSON API, CyberTipline XML API, panic button, CLI import)
turns its input into one :class:`~tipline.intake.schemas.ReportIn` and calls
:func:`~tipline.intake.service.submit_report`, which commits the report durably before anyone answers.
"""
