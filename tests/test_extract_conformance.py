"""Conformance of every extractor to the contract of tipline.extract.base, and the production pipeline
against the naive reference (issue 10 item 6). Made-up values only."""

from __future__ import annotations

import random

import pytest

from tipline.extract import KINDS, normalise
from tipline.extract.base import Context, Extractor, Naive, Pipeline
from tipline.synth import identifiers as ids
from tipline.synth.hard import hard_corpus

EXTRACTORS: list[Extractor] = [Pipeline(), Naive(), Pipeline(("phone", "email")), Pipeline(("account",))]


def _plain_texts() -> list[tuple[str, Context]]:
    rng = random.Random(5)
    out = []
    for i in range(60):
        phone = ids.random_mobile(rng, rng.choice(("PH", "IT", "US", "GB")))
        _, intl = ids.phone_formats(phone)
        email = f"{ids.email_local(rng)}@{ids.domain(rng)}"
        url = f"https://{ids.domain(rng)}/room/{ids.rand_alnum(rng, 5)}"
        eth = ids.eth_address(rng)
        handle = ids.handle(rng).lower()
        ip = ids.public_ipv4(rng)
        iban = ids.iban(rng, rng.choice(("IT", "DE", "GB")))
        parts = [
            f"call {intl}",
            f"mail {email}",
            f"see {url}",
            f"pay {eth}",
            f"t.me/{handle}",
            f"from {ip}",
            f"IBAN {iban}",
        ]
        rng.shuffle(parts)
        out.append((", ".join(parts[: 2 + i % 5]) + ".", Context(language="en")))
    return out


TEXTS = _plain_texts() + [(d.text, Context(d.country, d.language)) for d in hard_corpus(seed=11, n=60)]


@pytest.mark.parametrize("extractor", EXTRACTORS, ids=lambda e: f"{type(e).__name__}{list(e.kinds)[:3]}")
def test_every_extractor_keeps_the_contract(extractor: Extractor) -> None:
    assert set(extractor.kinds) <= set(KINDS)
    for text, ctx in TEXTS:
        found = extractor.find(text, ctx)
        assert [f.start for f in found] == sorted(f.start for f in found)
        for f in found:
            assert f.kind in extractor.kinds
            assert text[f.start : f.end] == f.raw
            assert 0.0 <= f.confidence <= 1.0
            again = normalise(f.kind, f.value, country=ctx.country)
            if f.kind not in ("phone", "whatsapp") or f.value.startswith("+"):
                assert again == f.value, (f, again)


def test_pipeline_finds_everything_the_naive_reference_finds_on_plain_text() -> None:
    naive, pipeline = Naive(), Pipeline()
    checked = 0
    for text, ctx in _plain_texts():
        want = {(f.kind, f.value) for f in naive.find(text, ctx)}
        got = {(f.kind, f.value) for f in pipeline.find(text, ctx)}
        assert want <= got, (text, want - got)
        checked += len(want)
    assert checked > 200


def test_pipeline_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown kinds"):
        Pipeline(("phone", "fax"))


def test_the_abc_cannot_be_used_alone() -> None:
    with pytest.raises(TypeError):
        Extractor()  # type: ignore[abstract]
