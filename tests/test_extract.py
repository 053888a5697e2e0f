"""tipline.extract: hand-written hard cases per kind, in English, Italian and Tagalog text.

Every identifier here is synthetic: wallets, IBANs and onion names are generated from random or fixed
bytes with real checksums; phone numbers are drawn from valid ranges but belong to nobody we know.
"""

from __future__ import annotations

import random

import base58
import pytest
from schwifty import IBAN

from tipline.extract import KINDS, Found, extract, normalise
from tipline.extract.crypto import eip55, onion_v3_encode, segwit_encode, xmr_encode

PH = "+639171234567"  # the PH mobile used throughout (valid range, synthetic)
IT_MOBILE = "+393391234567"


def kv(text: str, **kw) -> set[tuple[str, str]]:
    found = extract(text, **kw)
    _check_spans(text, found)
    return {(f.kind, f.value) for f in found}


def only(text: str, kind: str, **kw) -> list[Found]:
    found = extract(text, **kw)
    _check_spans(text, found)
    return [f for f in found if f.kind == kind]


def _check_spans(text: str, found: list[Found]) -> None:
    assert found == sorted(found, key=lambda f: f.start) or all(
        a.start <= b.start for a, b in zip(found, found[1:], strict=False)
    )
    for f in found:
        assert f.kind in KINDS
        assert 0 <= f.start < f.end <= len(text)
        assert text[f.start : f.end] == f.raw
        assert 0.0 <= f.confidence <= 1.0


# ============================================================================ synthetic checksummed values

RNG = random.Random(20261123)


def btc_p2pkh() -> str:
    return base58.b58encode_check(b"\x00" + RNG.randbytes(20)).decode()


def btc_p2sh() -> str:
    return base58.b58encode_check(b"\x05" + RNG.randbytes(20)).decode()


def trx_addr() -> str:
    return base58.b58encode_check(b"\x41" + RNG.randbytes(20)).decode()


def eth_addr() -> str:
    return eip55("0x" + RNG.randbytes(20).hex())


def xmr_addr(netbyte: int = 0x12) -> str:
    return xmr_encode(netbyte, RNG.randbytes(64))


def it_iban() -> str:
    return IBAN.generate("IT", bank_code="05428", branch_code="11101", account_code="000000123456").compact


def corrupt(s: str, i: int = -3) -> str:
    """Change one character, staying inside the base58 alphabet."""
    c = s[i]
    repl = "2" if c != "2" else "3"
    return s[:i] + repl + s[i + 1 :] if i != -1 else s[:-1] + repl


# ============================================================================ phones


@pytest.mark.parametrize(
    "surface",
    [
        "0917 123 4567",
        "0917.123.4567",
        "0917-123-4567",
        "0 9 1 7 1 2 3 4 5 6 7",
        "(0917)1234567",
        "+63 917 123 4567",
        "0063 917 123 4567",
        "+63-917-123-4567",
        "09171234567",
        "0917/123/4567",
        "0917_123_4567",
        "0917~123~4567",
        "O917 l23 4567",
        "09I7-l23-4567",
        "0917 one two three 4567",
        "zero nine one seven one two three four five six seven",
        "oh nine one seven one two three four five six seven",
        "zero nine one seven, one two three, four five six seven",
        "0917 123 four five six seven",
        "+63 nine one seven one two three four five six seven",
    ],
)
def test_phone_disguises_ph(surface: str) -> None:
    text = f"Please call him at {surface} tonight."
    phones = only(text, "phone", country="PH", language="en")
    assert [p.value for p in phones] == [PH]
    assert phones[0].raw == surface
    assert phones[0].start == text.index(surface)
    assert phones[0].confidence >= 0.8  # stated country or written internationally


def test_phone_tagalog_words_and_spanish_numerals() -> None:
    text = "Tawagan mo ako sa sero siyam isa pito isa dalawa tatlo apat lima anim pito, salamat po."
    (p,) = only(text, "phone", country="PH", language="tl")
    assert p.value == PH
    assert p.raw == "sero siyam isa pito isa dalawa tatlo apat lima anim pito"
    text = "i-text sa sero nuwebe uno siyete uno dos tres kwatro singko sais siyete"
    assert only(text, "phone", country="PH", language="tl")[0].value == PH


def test_phone_italian_words() -> None:
    text = "Chiamami al tre tre nove uno due tre quattro cinque sei sette, grazie."
    (p,) = only(text, "phone", country="IT", language="it")
    assert p.value == IT_MOBILE
    assert p.raw == "tre tre nove uno due tre quattro cinque sei sette"
    assert p.confidence >= 0.8
    # mixed digits and words
    assert only("cell. 339 uno due tre 4567", "phone", country="IT", language="it")[0].value == IT_MOBILE


def test_phone_english_double_and_capitals() -> None:
    text = "text Zero Nine One Seven one two three four five six seven"
    assert only(text, "phone", country="PH")[0].value == PH
    text = "call oh nine one seven double one two three four five six"  # 0917 112 3456
    assert only(text, "phone", country="PH")[0].value == "+639171123456"


def test_phone_words_of_every_language_are_read() -> None:
    # people mix languages: Italian words are read in a report marked English too
    text = "numero tre tre nove uno due tre quattro cinque sei sette"
    (p,) = only(text, "phone", country="IT", language="en")
    assert p.value == IT_MOBILE and p.disguise == "words"
    assert only(text, "phone", country="IT")[0].value == IT_MOBILE


def test_phone_fallback_region_is_low_confidence() -> None:
    text = "Tawagan mo ako sa 0917 123 4567."
    (p,) = only(text, "phone", language="tl")  # no country: PH comes from the language
    assert p.value == PH
    assert p.confidence <= 0.5
    (p,) = only(text, "phone", country="PH", language="tl")
    assert p.confidence >= 0.85
    # written internationally: high confidence whatever the region
    (p,) = only("WhatsApp me +39 339 123 4567", "phone", language="tl")
    assert p.value == IT_MOBILE and p.confidence >= 0.9


def test_phone_fallback_prefers_mobile_over_premium() -> None:
    # 09171234567 is also a valid GB premium-rate number; with English's fallbacks (US, GB, PH) the PH
    # mobile reading wins because a mobile is the likelier thing to be given as a contact.
    (p,) = only("text me 0917 123 4567", "phone", language="en")
    assert p.value == PH and p.confidence <= 0.5


def test_phone_no_region_at_all_reads_international_only() -> None:
    found = kv("call +39 339 123 4567 or 00 63 917 123 4567")
    assert ("phone", IT_MOBILE) in found and ("phone", PH) in found


def test_phone_double_zero_prefix_is_generic_idd() -> None:
    # Colombia's own IDDs are 005/007/009; people still write 00 + country code
    (p,) = only("CP# 00573026821173", "phone", country="CO")
    assert p.value == "+573026821173"


def test_two_phones_run_together() -> None:
    text = "text me 0917 123 4567 0918 765 4321 thanks"
    phones = only(text, "phone", country="PH")
    assert [p.value for p in phones] == [PH, "+639187654321"]
    assert [p.raw for p in phones] == ["0917 123 4567", "0918 765 4321"]


def test_phone_us_and_gb() -> None:
    assert only("call (415) 555-0123 now", "phone", country="US")[0].value == "+14155550123"
    assert only("mobile 07911 123456", "phone", country="GB")[0].value == "+447911123456"


HARD_NEGATIVES_EN = (
    "On 2026-11-23 at 10:30 she said she was 14 years old. The next message came 23/11/2026 at 21:45. "
    "He paid $25, then 25 USD, then PHP 2,500.00 and 1,500 pesos; total 1,234,567. "
    "It went on from 2019 to 2021, 3 or 4 times a week, room 1204, ages 12-15, 9am-5pm, 24/7. "
    "Order #48213377 and order number 4155550123 never arrived; tracking 9405511899223197428499. "
    "Invoice no. 2025110042, ticket 7012345678, ID 0917123456, reference is 2026/11/0042. "
    "Coordinates 14.5995, 120.9842. App v1.2.3.4, file video.mp4, clip.mov, notes.md. "
    "He told.me that ok.so it was fine.Love you. e.g. a.m. p.m. i.e. U.S.A. "
)
HARD_NEGATIVES_IT = (
    "Il 23/11/2026 alle 22:15 ha scritto che ha 14 anni. Ha pagato € 1.250,00 e poi 300 euro. "
    "Ordine n. 4155550123 del 12.03.2026, fattura 2025110042, codice 0917123456. Dalle 9:00 alle 17:30. "
)
HARD_NEGATIVES_TL = (
    "Noong 23/11/2026 ng 9:30 ng gabi, sabi niya 14 taong gulang siya. Nagbayad ng ₱2,500.00 at 1,500 piso. "
    "Order no. 4155550123 hindi dumating, resibo 2025110042. Mula 2019 hanggang 2021, kuwarto 1204. "
)


@pytest.mark.parametrize(
    ("text", "country", "language"),
    [
        (HARD_NEGATIVES_EN, "PH", "en"),
        (HARD_NEGATIVES_EN, "US", "en"),
        (HARD_NEGATIVES_EN, None, None),
        (HARD_NEGATIVES_IT, "IT", "it"),
        (HARD_NEGATIVES_TL, "PH", "tl"),
        (HARD_NEGATIVES_EN + HARD_NEGATIVES_IT + HARD_NEGATIVES_TL, None, "en"),
    ],
)
def test_hard_negatives_find_nothing(text: str, country: str | None, language: str | None) -> None:
    assert kv(text, country=country, language=language) == set()


# ============================================================================ e-mail


@pytest.mark.parametrize(
    ("surface", "value", "max_conf"),
    [
        ("anna.k@gmail.com", "anna.k@gmail.com", 1.0),
        ("Anna.K@Gmail.COM", "anna.k@gmail.com", 1.0),
        ("anna.k at gmail dot com", "anna.k@gmail.com", 0.7),
        ("anna.k at gmail.com", "anna.k@gmail.com", 0.7),
        ("anna.k [at] gmail [dot] com", "anna.k@gmail.com", 0.85),
        ("anna.k(at)gmail(.)com", "anna.k@gmail.com", 0.85),
        ("anna.k{at}gmail{dot}com", "anna.k@gmail.com", 0.85),
        ("anna.k @ gmail . com", "anna.k@gmail.com", 0.85),
        ("mario.rossi chiocciola libero punto it", "mario.rossi@libero.it", 0.7),
        ("mario.rossi [at] libero [punto] it", "mario.rossi@libero.it", 0.85),
        ("juan_dc tuldok? no: juan_dc [at] yahoo tuldok com", "juan_dc@yahoo.com", 0.7),
        ("info@bayhub-57hl.com.ph", "info@bayhub-57hl.com.ph", 1.0),
        ("anna dot k at gmail dot com", "anna.k@gmail.com", 0.7),
        ("mario dot rossi chiocciola libero punto it", "mario.rossi@libero.it", 0.7),
        ("juan tuldok dela tuldok cruz at yahoo tuldok com", "juan.dela.cruz@yahoo.com", 0.7),
    ],
)
def test_email_forms(surface: str, value: str, max_conf: float) -> None:
    text = f"Write to {surface}. Then wait."
    (e,) = only(text, "email")
    assert e.value == value
    assert text[e.start : e.end] == e.raw
    assert e.raw.endswith(surface.split()[-1])
    assert e.confidence <= max_conf


def test_a_spelled_out_local_part_is_read_whole() -> None:
    """An e-mail written "john dot doe at gmail dot com": the dots of the local part are spelled too; the
    address starts at "john", not at "doe" (which gave another person's address)."""
    text = "my email is john dot doe at gmail dot com thanks"
    (e,) = only(text, "email")
    assert (e.value, e.raw) == ("john.doe@gmail.com", "john dot doe at gmail dot com")
    # only labels joined by dot words are taken: the words of the sentence before stay out
    assert only("write to ana dot cruz at yahoo dot com", "email")[0].raw == "ana dot cruz at yahoo dot com"


def test_email_sentence_end_and_capitalised_next_word() -> None:
    text = "Mail anna@gmail.com.Me and you"  # missing space: "com.me" is not taken
    assert only(text, "email")[0].value == "anna@gmail.com"
    assert kv("Meet me at home dot com") == set()  # "me at": a sentence, not a local part


@pytest.mark.parametrize(
    ("text", "domain", "raw"),
    [
        ("my backup at stream-vip2 dot net", "stream-vip2.net", "stream-vip2 dot net"),
        ("find me at sweetmia dot com", "sweetmia.com", "sweetmia dot com"),
        ("live at camgirls dot xyz every night", "camgirls.xyz", "camgirls dot xyz"),
        ("new mirror at vipcams dot net", "vipcams.net", "vipcams dot net"),
        ("I'm online at camgirls dot xyz", "camgirls.xyz", "camgirls dot xyz"),
        ("il mio sito at rosa-live punto it", "rosa-live.it", "rosa-live punto it"),
        ("trovami su sweetmia punto com", "sweetmia.com", "sweetmia punto com"),
        ("encuéntrame en sweetmia punto com", "sweetmia.com", "sweetmia punto com"),
        ("nasa sweetmia dot com ang videos", "sweetmia.com", "sweetmia dot com"),
        ("hanapin nyo kami at sweetmia dot com", "sweetmia.com", "sweetmia dot com"),
        ("my backup at stream-vip2.net", "stream-vip2.net", "stream-vip2.net"),
    ],
)
def test_a_place_before_a_spelled_at_is_a_site_not_a_mailbox(text: str, domain: str, raw: str) -> None:
    """ "my backup at stream-vip2 dot net": the word before "at" is a place ("backup", "site", "live",
    "online"), a pronoun ("find me at") or a "find me" verb, so the host is a site, read as a domain with
    the place as its cue (it gave the e-mail backup@stream-vip2.net, or nothing)."""
    found = extract(text)
    assert [(f.kind, f.value, f.raw, f.confidence) for f in found] == [("domain", domain, raw, 0.7)]


def test_a_mailbox_before_a_spelled_at_is_still_an_e_mail() -> None:
    assert kv("john dot doe at gmail dot com") == {("email", "john.doe@gmail.com")}
    assert kv("anna.b at yahoo dot com") == {("email", "anna.b@yahoo.com")}
    assert kv("write to mia22 at gmail dot com") == {("email", "mia22@gmail.com")}
    assert kv("info at vipcams dot net") == {("email", "info@vipcams.net")}
    # a place word right after an e-mail cue is the mailbox
    assert kv("Contact e-mail rooms at tropiczone-x7 dot co dot uk") == {("email", "rooms@tropiczone-x7.co.uk")}
    assert kv("my email is backup at vipcams dot net") == {("email", "backup@vipcams.net")}
    # only the English "at" is a preposition: "chiocciola" is the @ sign
    assert kv("backup chiocciola vipcams punto net") == {("email", "backup@vipcams.net")}
    # a sentence word before "at" does not hide the address after it (it gave nothing)
    (e,) = only("reach me at john dot doe at gmail dot com", "email")
    assert (e.value, e.raw) == ("john.doe@gmail.com", "john dot doe at gmail dot com")
    (e,) = only("email me at anna.k@gmail.com", "email")
    assert (e.value, e.raw, e.confidence) == ("anna.k@gmail.com", "anna.k@gmail.com", 0.95)
    # a place and an address in one text
    assert kv("my backup at stream-vip2 dot net, email mia22 at gmail dot com") == {
        ("domain", "stream-vip2.net"),
        ("email", "mia22@gmail.com"),
    }
    # "meet me at", "look at": a sentence, and no site cue
    assert kv("Meet me at home dot com") == set()
    assert kv("look at this dot com") == set()


def test_email_is_not_also_a_domain_or_url() -> None:
    assert kv("contact: anna.k@gmail.com") == {("email", "anna.k@gmail.com")}


# ============================================================================ URLs, domains, IPs, onions


def test_url_normal_form() -> None:
    text = "see HTTPS://Live.Example.CO.UK/Room/AbC?id=7#frag, then"
    (u,) = only(text, "url")
    assert u.value == "https://live.example.co.uk/Room/AbC?id=7"
    assert u.raw == "HTTPS://Live.Example.CO.UK/Room/AbC?id=7#frag"
    (d,) = only(text, "domain")
    assert d.value == "example.co.uk"
    assert d.raw == "Live.Example.CO.UK"


def test_url_defanged_and_default_scheme() -> None:
    text = "link hxxps://evil[.]example[.]com/p/x1 and www.example.org and example.net/u/abc."
    found = kv(text)
    assert ("url", "https://evil.example.com/p/x1") in found
    assert ("url", "http://www.example.org/") in found
    assert ("url", "http://example.net/u/abc") in found
    assert {v for k, v in found if k == "domain"} == {"example.com", "example.org", "example.net"}
    (u,) = [f for f in only(text, "url") if "evil" in f.value]
    assert u.raw == "hxxps://evil[.]example[.]com/p/x1"
    assert u.confidence >= 0.9


def test_url_brackets_and_trailing_punctuation() -> None:
    text = "(see https://example.com/a_(b)/c), and [hxxp[://]example[.]org/x]."
    found = kv(text)
    assert ("url", "https://example.com/a_(b)/c") in found
    assert ("url", "http://example.org/x") in found


def test_bare_domains() -> None:
    assert kv("visit example.com today") == {("domain", "example.com")}
    assert kv("sito esempio-7x[.]it") == {("domain", "esempio-7x.it")}
    assert kv("website bayhub-57hl dot com dot ph") == {("domain", "bayhub-57hl.com.ph")}
    assert kv("sito lilystudio-a4w5 punto ph") == {("domain", "lilystudio-a4w5.ph")}
    # word-like suffixes need a cue: "told.me" is a typo, "the site example.me" is a domain
    assert kv("he told.me so") == set()
    assert kv("the site example.me is down") == {("domain", "example.me")}
    assert kv("the dot com bubble") == set()
    assert kv("lilystudio.ph has the videos") == {("domain", "lilystudio.ph")}
    assert kv("snap cool_guy.ph") == {("snapchat", "cool_guy.ph")}  # "_" is in no host name


def test_messaging_domains_are_never_domains() -> None:
    found = kv("t.me/anna_rose22 https://wa.me/639171234567 discord.gg/AbCd12 snapchat.com/add/jane.x")
    assert not any(k in ("domain", "url") for k, _ in found)
    assert found == {
        ("telegram", "anna_rose22"),
        ("whatsapp", PH),
        ("phone", PH),
        ("discord", "discord.gg/AbCd12"),
        ("snapchat", "jane.x"),
    }


def test_ips() -> None:
    text = "from 203.0.113.7 and 198.51.100[.]23 and 2001:DB8:0:0:0:0:0:1 today"
    found = only(text, "ipv4") + only(text, "ipv6")
    assert {(f.kind, f.value) for f in found} == {
        ("ipv4", "203.0.113.7"),
        ("ipv4", "198.51.100.23"),
        ("ipv6", "2001:db8::1"),
    }
    assert kv("version 1.2.3.4, v10.0.0.1, 999.1.1.1, 12:30:45, 1.2.3") == set()
    assert kv("log fe80::1 then") == {("ipv6", "fe80::1")}


def test_url_with_ip_host() -> None:
    found = kv("http://203.0.113.7:8080/panel")
    assert found == {("url", "http://203.0.113.7:8080/panel"), ("ipv4", "203.0.113.7")}


def test_onions() -> None:
    onion = onion_v3_encode(bytes(range(32)))
    label = onion[:-6]
    text = f"mirror at {onion.upper()} and http://{label}[.]onion/shop/Item1 too"
    found = extract(text)
    _check_spans(text, found)
    onions = [f for f in found if f.kind == "onion"]
    assert {f.value for f in onions} == {onion}
    assert all(f.confidence >= 0.99 for f in onions)
    assert ("url", f"http://{onion}/shop/Item1") in {(f.kind, f.value) for f in found}
    assert not [f for f in found if f.kind == "domain"]
    # a v3 name with a broken checksum is not an onion; a v2 name is, with low confidence
    bad = label[:-1] + ("a" if label[-1] != "a" else "b")
    assert not only(f"{bad}.onion", "onion")
    (v2,) = only("old site expyuzz4wqqyqhjn.onion here", "onion")
    assert v2.value == "expyuzz4wqqyqhjn.onion" and v2.confidence <= 0.3


# ============================================================================ wallets


def test_btc_base58_and_bech32() -> None:
    p2pkh, p2sh = btc_p2pkh(), btc_p2sh()
    v0 = segwit_encode(0, RNG.randbytes(20))
    v0_32 = segwit_encode(0, RNG.randbytes(32))
    taproot = segwit_encode(1, RNG.randbytes(32))
    text = f"pay {p2pkh} or {p2sh}, else {v0.upper()} / {v0_32} / {taproot}."
    found = only(text, "btc")
    assert [f.value for f in found] == [p2pkh, p2sh, v0, v0_32, taproot]
    assert all(f.confidence >= 0.99 for f in found)
    assert found[2].raw == v0.upper()


def test_btc_spec_vectors() -> None:
    # BIP-173 / BIP-350 test vectors (specification data, not anyone's wallet)
    assert (
        normalise("btc", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4") == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    )
    assert normalise("btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5") is None  # bad checksum
    # v1 must use bech32m: the BIP-350 invalid vector with a bech32 checksum is rejected
    assert normalise("btc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd") is None


def test_btc_bad_checksum_is_nothing() -> None:
    a = btc_p2pkh()
    assert not only(f"send to {corrupt(a)}", "btc")
    assert not only(f"send to {segwit_encode(0, bytes(20))[:-1]}q", "btc")


def test_eth_eip55() -> None:
    a = eth_addr()
    (f,) = only(f"ETH {a}", "eth")
    assert f.value == a and f.confidence >= 0.99
    (f,) = only(f"ETH {a.lower()}", "eth")
    assert f.value == a and f.confidence < 0.9  # one case: no checksum to verify
    # EIP-55 specification vector and a mixed case that fails the checksum
    assert (
        normalise("eth", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    )
    wrong = a[:2] + "".join(c.swapcase() if c.isalpha() else c for c in a[2:])
    if wrong[2:] != wrong[2:].lower() and wrong[2:] != wrong[2:].upper() and wrong != a:
        assert not only(f"ETH {wrong}", "eth")


def test_xmr_and_trx() -> None:
    x, sub, integ = xmr_addr(0x12), xmr_addr(0x2A), xmr_encode(0x13, RNG.randbytes(72))
    t = trx_addr()
    text = f"XMR {x} sub {sub} integrated {integ} USDT TRC20 {t}"
    found = extract(text)
    _check_spans(text, found)
    assert [(f.kind, f.value) for f in found] == [("xmr", x), ("xmr", sub), ("xmr", integ), ("trx", t)]
    assert not kv(f"XMR {corrupt(x, 10)} TRX {corrupt(t)}")


def test_wallet_digits_are_not_phones() -> None:
    # a P2PKH address made only of digits-and-letters around a phone-looking stretch
    for _ in range(20):
        a = btc_p2pkh()
        assert kv(f"btc {a}", country="PH", language="tl") == {("btc", a)}


# ============================================================================ handles


def test_telegram() -> None:
    found = kv("Telegram: @Anna_Rose22, also t.me/Bobby_Bee and https://telegram.me/s/Carla_Cam9")
    assert found == {("telegram", "anna_rose22"), ("telegram", "bobby_bee"), ("telegram", "carla_cam9")}
    assert kv("TG: sunny_day77") == {("telegram", "sunny_day77")}
    assert kv("sa Telegram @Mabuhay_123 po") == {("telegram", "mabuhay_123")}
    # no cue, or another platform's cue: not Telegram
    # a bare @name is an account on an unknown platform; after an Instagram cue, an Instagram account
    assert kv("follow @anna_rose22") == {("account", "unknown/anna_rose22")}
    assert kv("my ig @anna_rose22 and tiktok too") == {("account", "instagram/anna_rose22")}
    (f,) = only("Contatti: su Telegram @Orchid_Vibe717.", "telegram")
    assert f.raw == "@Orchid_Vibe717"
    # an invite link names a private group: a telegram entity in its invite form, not a username
    assert kv("https://t.me/joinchat/AbCdEf123") == {("telegram", "t.me/+AbCdEf123")}


def test_skype_snapchat_kik_discord() -> None:
    text = (
        "skype: live:.cid.3abcfeb6f884b2dc, Skype ID maria.santos88, skype:john_doe77?call; "
        "snap: jane.doe, SC: @sunny_ph, snapchat.com/add/Mika_22; kik: bobby99, kik me carlo_x; "
        "discord: cool_guy.ph, his discord is Foo#1234, discord.com/invite/Xy7Zab"
    )
    assert kv(text) == {
        ("skype", "live:.cid.3abcfeb6f884b2dc"),
        ("skype", "maria.santos88"),
        ("skype", "john_doe77"),
        ("snapchat", "jane.doe"),
        ("snapchat", "sunny_ph"),
        ("snapchat", "mika_22"),
        ("kik", "bobby99"),
        ("kik", "carlo_x"),
        ("discord", "cool_guy.ph"),
        ("discord", "Foo#1234"),
        ("discord", "discord.gg/Xy7Zab"),
    }


def test_handles_need_evidence() -> None:
    # a plain word after a cue with no separator is prose
    assert kv("we talked on kik about it and on snap later, discord is fun") == set()
    assert kv("Room#1234 was booked") == set()  # a legacy-Discord-looking tag with no Discord cue
    assert kv("sc is short for something") == set()


def test_plain_word_handle_after_possessive_cue() -> None:
    (f,) = only("Add me on kik annasmith. Bye", "kik")
    assert (f.value, f.raw, f.confidence) == ("annasmith", "annasmith", 0.4)
    assert kv("my skype liganana") == {("skype", "liganana")}
    assert kv("his discord server is down, add me on kik tonight, my snap is great") == set()


def test_whatsapp() -> None:
    text = "WhatsApp: +63 917 123 4567. Viber 0918 765 4321"
    found = extract(text, country="PH")
    _check_spans(text, found)
    got = {(f.kind, f.value, f.raw) for f in found}
    assert got == {
        ("phone", PH, "+63 917 123 4567"),
        ("whatsapp", PH, "+63 917 123 4567"),
        ("phone", "+639187654321", "0918 765 4321"),
    }
    text = "chat wa.me/639171234567."
    found = extract(text)
    assert {(f.kind, f.value, f.raw) for f in found} == {
        ("whatsapp", PH, "wa.me/639171234567"),
        ("phone", PH, "639171234567"),
    }
    assert kv("https://api.whatsapp.com/send?phone=639171234567") == {("whatsapp", PH), ("phone", PH)}
    # the "wa" of a wa.me link is not a cue for the number before it
    assert kv("numero +1 702 419 1766. Segnalo https://wa.me/639171234567") == {
        ("phone", "+17024191766"),
        ("whatsapp", PH),
        ("phone", PH),
    }
    # a disguised number after the cue
    assert kv("whatsapp zero nine one seven one two three four five six seven", country="PH") == {
        ("whatsapp", PH),
        ("phone", PH),
    }


# ============================================================================ IBAN, MTCN


def test_iban_forms() -> None:
    iban = it_iban()
    grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    for surface, min_conf in ((iban, 0.99), (grouped, 0.99), (grouped.lower(), 0.9)):
        text = f"bonifico su IBAN {surface} entro venerdì"
        (f,) = only(text, "iban", country="IT", language="it")
        assert f.value == iban and f.raw == surface and f.confidence >= min_conf
        assert kv(text, country="IT", language="it") == {("iban", iban)}  # its digits are no phone
    bad = iban[:2] + ("00" if iban[2:4] != "00" else "01") + iban[4:]
    assert not only(f"IBAN {bad}", "iban")
    gb = IBAN.generate("GB", bank_code="NWBK", branch_code="601613", account_code="31926819").compact
    assert only(f"sort it out: {gb}", "iban")[0].value == gb


def test_mtcn() -> None:
    text = "sent by Western Union, MTCN 123-456-7890, and codice MTCN 0987654321"
    found = extract(text, country="US")
    _check_spans(text, found)
    assert {(f.kind, f.value) for f in found} == {("mtcn", "1234567890"), ("mtcn", "0987654321")}
    (f,) = only("WU control number: 415 555 0123", "mtcn", country="US")
    assert f.value == "4155550123" and f.raw == "415 555 0123"
    # uncued ten digits are not an MTCN (here: a valid US phone)
    assert kv("call 415 555 0123", country="US") == {("phone", "+14155550123")}
    # after a Western Union cue, a phone cue in between keeps it a phone
    assert kv("paid via Western Union; call me on 415-555-0123", country="US") == {("phone", "+14155550123")}


# ============================================================================ masking


def test_masking() -> None:
    # e-mail local part of digits is not a phone
    assert kv("mail 09171234567@gmail.com", country="PH") == {("email", "09171234567@gmail.com")}
    # an IP is not a phone
    assert kv("ip 120.28.123.45", country="PH") == {("ipv4", "120.28.123.45")}
    # a URL's host is not an e-mail, and its digits are not a phone
    assert kv("https://example.com/u/09171234567", country="PH") == {
        ("url", "https://example.com/u/09171234567"),
        ("domain", "example.com"),
    }
    # an MTCN is not a phone even when the digits are a valid number
    assert kv("MTCN 415-555-0123", country="US") == {("mtcn", "4155550123")}


# ============================================================================ whole reports


def test_report_english() -> None:
    btc = btc_p2pkh()
    text = (
        "I found an ad on a classifieds site offering private video calls with a girl around 12 years old. "
        f"They want payment first, USD 25, by BTC {btc} or Western Union (MTCN 555-123-4567). "
        "Contact: TG @sunset_spot662 or text 0917 one two three 4567, mail "
        "rooms [at] pearlvibe-x0yo [dot] com, site hxxps://pearlvibe-x0yo[.]com/live/r6ad8u. Seen 23/11/2026."
    )
    assert kv(text, country="PH", language="en") == {
        ("btc", btc),
        ("mtcn", "5551234567"),
        ("telegram", "sunset_spot662"),
        ("phone", PH),
        ("email", "rooms@pearlvibe-x0yo.com"),
        ("url", "https://pearlvibe-x0yo.com/live/r6ad8u"),
        ("domain", "pearlvibe-x0yo.com"),
    }


def test_report_italian() -> None:
    iban = it_iban()
    text = (
        "Buongiorno, un profilo offre dirette private con minori. Chiede il pagamento con bonifico "
        f"IBAN {iban} oppure ricarica. Contatti: cellulare tre tre nove uno due tre 4567, e-mail "
        "mario.bianchi chiocciola esempio-web punto it, sito esempio-web[.]it. Il 23/11/2026 alle 22:15."
    )
    assert kv(text, country="IT", language="it") == {
        ("iban", iban),
        ("phone", IT_MOBILE),
        ("email", "mario.bianchi@esempio-web.it"),
        ("domain", "esempio-web.it"),
    }


def test_report_tagalog() -> None:
    eth = eth_addr()
    text = (
        "May nag-aalok ng live show ng mga bata sa Angeles City. Bayad muna, 500 piso. "
        f"Makipag-ugnayan sa WhatsApp sero siyam isa pito isa dalawa tatlo apat lima anim pito o sa {eth}. "
        "Skype: live:.cid.00ff00ff00ff0011 at t.me/angeles_live09. Noong 23/11/2026 ng 9:30."
    )
    assert kv(text, country="PH", language="tl") == {
        ("whatsapp", PH),
        ("phone", PH),
        ("eth", eth),
        ("skype", "live:.cid.00ff00ff00ff0011"),
        ("telegram", "angeles_live09"),
    }


def test_empty_and_trivial() -> None:
    assert extract("") == []
    assert extract("   \n\t") == []
    assert extract("hello") == []


def test_a_number_followed_by_a_unit_is_not_a_phone() -> None:
    """A unit right after the digits ("pesos", "years", "25k") makes the number an amount or an age. The check
    was written with "^" and called at the number's end, where "^" never matches: it did nothing, and a
    number with an age after it became one wrong phone ("364 849 3051 14 anni" -> +39364849305114)."""
    for text in ("price is 09171234567 pesos", "09171234567 years", "budget 09171234567k"):
        assert kv(text, country="PH") == set(), text
    assert ("phone", "+39364849305114") not in kv("chiama 364 849 3051 14 anni", country="IT")
    assert kv("chiama 364 849 3051, ha 14 anni", country="IT") == {("phone", "+393648493051")}
    assert kv("call 09171234567 k?", country="PH") == {("phone", "+639171234567")}  # "k?" is "ok?"


def test_an_age_right_after_a_number_is_left_out_of_it() -> None:
    """A group of one or two digits followed by an age word is the age, and the number is the digits before
    it (it was dropped whole: "chiama 364 849 3051 14 anni" gave no phone)."""
    assert kv("chiama 364 849 3051 14 anni", country="IT") == {("phone", "+393648493051")}
    assert kv("chiama 3648493051 14 anni", country="IT") == {("phone", "+393648493051")}
    assert kv("msg 0917 555 0123 14 taong gulang", country="PH") == {("phone", "+639175550123")}
    assert kv("contact +39 380 364 6894 13 years old") == {("phone", "+393803646894")}
    assert kv("she is 0917 555 0123 9yo", country="PH") == {("phone", "+639175550123")}
    # an amount stays an amount, and a longer group before the age word is not cut off
    assert kv("prezzo 1500 2000 50 anni", country="IT") == set()
    assert kv("09171234567 years", country="PH") == set()


def test_a_host_whose_lower_case_is_longer_does_not_break_extraction() -> None:
    """urlsplit lower-cases a host, and "İ" lower-cases to two characters: the host's span was measured on
    the lower-cased form and ran past the text (IndexError, found by fuzzing)."""
    for text in ("İ[.]co.ukco.uk", "see İstanbul-cams[.]com now", "http://İzmir.example.com/x?a=1"):
        for f in extract(text):
            assert 0 <= f.start < f.end <= len(text) and text[f.start : f.end] == f.raw
    assert ("domain", "example.com") in kv("http://İzmir.example.com/x?a=1")
