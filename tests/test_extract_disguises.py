"""Hand-written regression table for issue 13: every disguise people use, in every language we read,
and the cases the issue names. All numbers, names and addresses are made up."""

from __future__ import annotations

import pytest

from tipline.extract import extract

PH = "+639171234567"
IT = "+393391234567"
US = "+12125550143"

WORDS = {
    "en": "zero nine one seven one two three four five six seven",
    "it": "zero nove uno sette uno due tre quattro cinque sei sette",
    "tl": "sero siyam isa pito isa dalawa tatlo apat lima anim pito",
    "es": "cero nueve uno siete uno dos tres cuatro cinco seis siete",
}
MIXED = {  # one number in two languages at once
    "en": "zero nine one seven one two three apat lima anim pito",
    "it": "zero nove uno seven one two three quattro cinque sei sette",
    "tl": "sero siyam isa pito one two three four lima anim pito",
    "es": "cero nueve uno siete one two three cuatro cinco seis siete",
}
SENTENCE = {
    "en": "Please message her at {x} tonight.",
    "it": "Scrivetele al {x} stasera.",
    "tl": "I-text mo siya sa {x} mamaya.",
    "es": "Escríbele al {x} esta noche.",
}
# (surface, expected disguise labels)
DISGUISED_SURFACES = {
    "plain": ("0917 123 4567", ""),
    "letters": ("O9l7 l23 4567", "letters"),
    "spaced": ("0 9 1 7 1 2 3 4 5 6 7", "spaced"),
    "separators": ("0917/123/4567", "spaced"),
    "lines": ("0917 123\n4567", "split"),
    "fullwidth": ("０９１７ １２３ ４５６７", "unicode"),
    "mathematical": ("𝟎𝟗𝟏𝟕 𝟏𝟐𝟑 𝟒𝟓𝟔𝟕", "unicode"),
    "thai": ("๐๙๑๗ ๑๒๓ ๔๕๖๗", "digits"),
    "arabic-indic": ("٠٩١٧ ١٢٣ ٤٥٦٧", "digits"),
    "zero-width": ("09\u200b17 1\u200d23 45\u200c67", "invisible"),
    "bidi": ("\u202d0917 123 4567\u202c", "invisible"),
    "keycaps": ("0️⃣9️⃣1️⃣7️⃣ 1️⃣2️⃣3️⃣ 4️⃣5️⃣6️⃣7️⃣", "keycap"),
}


@pytest.mark.parametrize("lang", sorted(SENTENCE))
@pytest.mark.parametrize("name", sorted(DISGUISED_SURFACES))
def test_disguise_by_language(name: str, lang: str) -> None:
    surface, labels = DISGUISED_SURFACES[name]
    text = SENTENCE[lang].format(x=surface)
    phones = [f for f in extract(text, country="PH", language=lang) if f.kind == "phone"]
    assert [p.value for p in phones] == [PH], text
    p = phones[0]
    assert surface.strip("\u202d\u202c") in p.raw  # the span is in the original text
    assert text[p.start : p.end] == p.raw
    for label in filter(None, labels.split(",")):
        assert label in p.disguise.split(","), (name, p.disguise)
    if not labels:
        assert p.disguise == ""


@pytest.mark.parametrize("lang", sorted(WORDS))
def test_number_words_by_language(lang: str) -> None:
    text = SENTENCE[lang].format(x=WORDS[lang])
    (p,) = [f for f in extract(text, country="PH", language=lang) if f.kind == "phone"]
    assert p.value == PH and p.raw == WORDS[lang] and p.disguise == "words"


@pytest.mark.parametrize("lang", sorted(MIXED))
def test_mixed_language_number_words(lang: str) -> None:
    # the language given is not always the language of the number words
    for given in (lang, "en", None):
        text = SENTENCE[lang].format(x=MIXED[lang])
        (p,) = [f for f in extract(text, country="PH", language=given) if f.kind == "phone"]
        assert p.value == PH and "words" in p.disguise


@pytest.mark.parametrize(
    ("lang", "surface"),
    [
        ("en", "anna.rossi at example dot com"),
        ("en", "anna.rossi (at) example (dot) com"),
        ("it", "anna.rossi chiocciola example punto com"),
        ("it", "anna.rossi [chiocciola] example [punto] com"),
        ("tl", "anna.rossi at example tuldok com"),
        ("es", "anna.rossi arroba example punto com"),
        ("es", "anna.rossi [arroba] example [punto] com"),
        ("pt", "anna.rossi arroba example ponto com"),
        ("fr", "anna.rossi arobase example point com"),
        ("de", "anna.rossi at example punkt com"),
    ],
)
def test_at_dot_emails_by_language(lang: str, surface: str) -> None:
    text = f"contact: {surface} ok"
    emails = [f for f in extract(text, language=lang) if f.kind == "email"]
    assert [e.value for e in emails] == ["anna.rossi@example.com"]
    assert emails[0].disguise in ("at-dot", "defanged")


@pytest.mark.parametrize(
    ("lang", "surface"),
    [
        ("en", "sweet-shows dot com"),
        ("it", "sweet-shows punto com"),
        ("tl", "sweet-shows tuldok com"),
        ("es", "sweet-shows punto com"),
    ],
)
def test_spelled_domains_by_language(lang: str, surface: str) -> None:
    found = [f for f in extract(f"website {surface}", language=lang) if f.kind == "domain"]
    assert [(f.value, f.disguise) for f in found] == [("sweet-shows.com", "at-dot")]


@pytest.mark.parametrize(
    "surface",
    [
        "hxxps://sweet-shows.example.com/room/12",
        "hXXps[://]sweet-shows.example.com/room/12",
        "https://sweet-shows[.]example[.]com/room/12",
        "https://sweet-shows(.)example(dot)com/room/12",
        "https://sweet-shows{.}example[punto]com/room/12",
        "https://sweet-shows\\.example\\.com/room/12",
    ],
)
def test_defanged_urls(surface: str) -> None:
    found = {f.kind: f for f in extract(f"link {surface} now")}
    assert found["url"].value == "https://sweet-shows.example.com/room/12"
    assert found["url"].disguise == "defanged"
    assert found["domain"].value == "example.com"


def test_unicode_disguised_email_and_handle() -> None:
    # Cyrillic а and о inside Latin words, a zero-width space in the domain, fullwidth @
    text = "mail: \u0430nna.r\u043essi＠exam\u200bple.com or t.me/sweet_\u0440inay"
    found = {f.kind: f for f in extract(text)}
    assert found["email"].value == "anna.rossi@example.com"
    assert set(found["email"].disguise.split(",")) >= {"unicode", "invisible"}
    assert found["telegram"].value == "sweet_pinay"
    assert found["email"].raw == text[found["email"].start : found["email"].end]


def test_words_of_another_script_are_left_alone() -> None:
    # a Russian sentence is not folded to Latin look-alikes (only mixed-script words are)
    assert extract("Он сказал, что позвонит завтра") == []


def test_words_between_groups() -> None:
    text = "Call 0917 text me 123 4567 for the show."
    (p,) = [f for f in extract(text, country="PH", language="en") if f.kind == "phone"]
    assert p.value == PH and p.disguise == "split" and p.raw == "0917 text me 123 4567"


def test_counts_and_ranges_with_words_between_are_not_phones() -> None:
    text = "From 9am-5pm, 24/7 support, 3-4 times, ages 12-15, years 2019-2021, room 120 and 450 more"
    assert [f for f in extract(text, country="PH", language="en") if f.kind == "phone"] == []


# --------------------------------------------------------------------------- the issue's own cases


def test_us_number_spelled_in_english_keeps_every_digit() -> None:
    text = "He said to call him, his number is two one two five five five zero one four three, in New York."
    for country in (None, "IT", "US"):
        (p,) = [f for f in extract(text, country=country, language="en") if f.kind == "phone"]
        assert p.value == US, country
        assert p.raw == "two one two five five five zero one four three"


def test_a_run_with_a_spare_digit_is_kept_whole_or_not_at_all() -> None:
    # eleven spelled digits: no reading may drop one of them to make a valid number
    text = "call two one two five five five zero one four three two"
    assert [f for f in extract(text, country="US", language="en") if f.kind == "phone"] == []


def test_philippine_mobile_with_letters_in_english_report_about_the_philippines() -> None:
    text = "My cousin in the Philippines is being forced to do shows, the number is O9l7 l23 4567."
    (p,) = [f for f in extract(text, country="IT", language="en") if f.kind == "phone"]
    assert p.value == PH
    assert "letters" in p.disguise
    # honest ambiguity: the Italian reading is offered second, with a lower confidence
    assert [v for v, _ in p.alternatives] == ["+3909171234567"]
    assert p.alternatives[0][1] < p.confidence


def test_stated_country_alone_reads_at_full_confidence() -> None:
    (p,) = [f for f in extract("chiamami al 339 123 4567", country="IT", language="it") if f.kind == "phone"]
    assert p.value == IT and p.alternatives == () and p.confidence >= 0.85


def test_other_numbers_in_the_text_are_evidence() -> None:
    # no stated country; an English text; one number written as +63: the national one is read as PH
    text = "numbers: +63 918 765 4321 and 0917 123 4567"
    phones = [f for f in extract(text, language="en") if f.kind == "phone"]
    assert [p.value for p in phones] == ["+639187654321", PH]


def test_a_whatsapp_number_keeps_the_disguise_of_its_phone() -> None:
    """The ``whatsapp`` entity made from a phone with a WhatsApp cue says how the number was written, as the
    phone does (the obscured number is an ad indicator whichever entity the analyst looks at)."""
    found = {f.kind: f.disguise for f in extract("whatsapp +63 9 1 7 5 5 5 0 1 2 3")}
    assert found == {"phone": "spaced", "whatsapp": "spaced"}
