"""A seeded, deterministic synthetic world with ground truth, for the demo, the tests and the benchmarks.

>>> from tipline.synth import generate_world
>>> w = generate_world(seed=1, n_networks=12, n_reports=400)

``w.networks`` are trafficking networks with their identifiers (``Network.entities`` in normal form),
``w.reports`` the reports the doors receive (``SynthReport.payload``) with their ground truth
(``network_id``, ``truth_entities``, ``truth_priority_hint``, and ``child_in_danger_now``: what P1
means). ``w.hubs`` are values that appear in many unrelated reports (platform support lines, the
classifieds site's domain); ``w.shared`` the few identifiers two networks share. Nothing here is real:
identifiers are random but valid in format, texts are placeholder-level and never describe abuse.

Ground-truth conventions (what ``truth_entities`` lists, in the normal forms of ``tipline.extract``):

* every identifier planted in the free text, however disguised (``truth_mentions`` also gives the surface
  as written), and every identifier in a structured field: platform identifiers, accounts
  (``account`` = ``platform/name``, lower case), IP events (``ipv4``), ``urls``; in CyberTipline XML the
  reported person's ``phone``/``email``, ``espService`` + ``screenName`` (an ``account`` on that service),
  ``ipCaptureEvent`` and ``webPageIncident`` URLs; in live events the broadcaster's and viewers' accounts
  and IPs;
* a URL also yields its registered ``domain``; ``t.me/<handle>`` is only ``telegram``; ``wa.me/<digits>``
  is only ``whatsapp`` (E.164); a phone written as a number is ``phone``; an e-mail does not yield a domain;
* national phone formats appear only when the report's stated ``country`` is the phone's region;
* not listed: a public reporter's own contact details (``contact``, sealed), frame hashes, the reporting
  platform's own name, report and stream ids, ordinary numbers (dates, times, prices, ages, order numbers).
"""

from .world import Network, SynthPlatform, SynthReport, Viewer, World, generate_world

__all__ = ["Network", "SynthPlatform", "SynthReport", "Viewer", "World", "generate_world"]
