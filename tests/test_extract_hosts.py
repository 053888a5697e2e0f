"""A host name below its registered domain is an identifier of its own (issue 15): ``bad1.example.com`` in
prose is the URL ``http://bad1.example.com/`` as well as the domain ``example.com``; a bare registered
domain stays a domain only (``www.`` hosts were URLs already)."""

from __future__ import annotations

import pytest

from tipline.extract import extract


def _found(text: str) -> set[tuple[str, str]]:
    return {(f.kind, f.value) for f in extract(text)}


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("visit bad1.example.com now", "http://bad1.example.com/"),
        ("the stream is on live.rooms-example.com.ph tonight", "http://live.rooms-example.com.ph/"),
        ("bad1[.]example[.]com", "http://bad1.example.com/"),
    ],
)
def test_a_host_only_url_keeps_its_host(text: str, url: str) -> None:
    found = _found(text)
    assert ("url", url) in found
    assert any(kind == "domain" for kind, _ in found)


@pytest.mark.parametrize("text", ["visit example.com now", "the site is example.com.ph"])
def test_a_registered_domain_alone_stays_a_domain(text: str) -> None:
    assert {kind for kind, _ in _found(text)} == {"domain"}
