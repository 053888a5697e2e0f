"""Handles (issue 13): bare @names, "platform: name" and "name on platform" in every language we read,
profile links, and platform names typed several ways. Made-up names only."""

from __future__ import annotations

import pytest

from tipline.extract import extract, normalise
from tipline.extract.platforms import canonical_platform, platforms


def kv(text: str, **kw) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(f.kind, f.value) for f in extract(text, **kw)}


def test_bare_handles_are_accounts_on_an_unknown_platform() -> None:
    assert kv("Seen in a report: @manila_vip_shows, please check.") == {("account", "unknown/manila_vip_shows")}
    assert kv("follow-up: now they use @sweetpinay_live23") == {("account", "unknown/sweetpinay_live23")}


def test_bare_at_that_is_not_a_handle() -> None:
    for text in ("see you @ home", "at 5 @ the mall", "he wrote @me and @you", "email me @ 5pm"):
        assert {k for k, _ in kv(text)} <= set(), text


def test_skype_name_with_dots_is_a_skype_handle_not_a_domain() -> None:
    assert kv("skype: anna.belle.ph") == {("skype", "anna.belle.ph")}
    assert kv("Skype ID: anna.belle.ph") == {("skype", "anna.belle.ph")}
    assert ("domain", "belle.ph") in kv("site: anna.belle.ph")


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "Instagram: sweet.pinay09", ("account", "instagram/sweet.pinay09")),
        ("en", "her IG @sweet.pinay09", ("account", "instagram/sweet.pinay09")),
        ("en", "sweet.pinay09 on Instagram", ("account", "instagram/sweet.pinay09")),
        ("en", "telegram: sweet_pinay09", ("telegram", "sweet_pinay09")),
        ("en", "sweet_pinay09 on Telegram", ("telegram", "sweet_pinay09")),
        ("it", "profilo mia_bella22 su Instagram", ("account", "instagram/mia_bella22")),
        ("it", "Instagram: mia_bella22", ("account", "instagram/mia_bella22")),
        ("it", "@mia_bella22 su TikTok", ("account", "tiktok/mia_bella22")),
        ("tl", "si mia_bella22 sa Facebook", ("account", "facebook/mia_bella22")),
        ("tl", "FB: mia_bella22 po", ("account", "facebook/mia_bella22")),
        ("es", "cuenta mia_bella22 en TikTok", ("account", "tiktok/mia_bella22")),
        ("es", "TikTok: @mia_bella22", ("account", "tiktok/mia_bella22")),
        ("pt", "perfil mia_bella22 em Instagram", ("account", "instagram/mia_bella22")),
        ("fr", "compte mia_bella22 sur Snapchat", ("snapchat", "mia_bella22")),
        ("de", "Konto mia_bella22 auf OnlyFans", ("account", "onlyfans/mia_bella22")),
        ("en", "my line id: mia_bella22", ("account", "line/mia_bella22")),
        ("en", "wechat: mia_bella22", ("account", "wechat/mia_bella22")),
        ("en", "viber - mia_bella22", ("account", "viber/mia_bella22")),
        ("en", "signal: sweet.pinay09", ("account", "signal/sweet.pinay09")),
        ("en", "twitter @mia_bella22", ("account", "x/mia_bella22")),
    ],
)
def test_platform_and_name_by_language(lang: str, text: str, expected: tuple[str, str]) -> None:
    assert expected in kv(text, language=lang), text


def test_plain_words_after_a_platform_are_prose() -> None:
    assert kv("I saw her on Instagram yesterday") == set()
    assert kv("instagram is where they met, then on tiktok too") == set()
    assert kv("viber: 0918 765 4321", country="PH") == {("phone", "+639187654321")}


@pytest.mark.parametrize(
    ("link", "account"),
    [
        ("https://www.instagram.com/sweet.pinay09/", "instagram/sweet.pinay09"),
        ("https://www.facebook.com/mia.bella.22", "facebook/mia.bella.22"),
        ("https://www.facebook.com/profile.php?id=100012345678", "facebook/100012345678"),
        ("https://m.me/mia.bella.22", "facebook/mia.bella.22"),
        ("https://www.tiktok.com/@mia_bella22/live", "tiktok/mia_bella22"),
        ("https://x.com/mia_bella22", "x/mia_bella22"),
        ("https://twitter.com/mia_bella22", "x/mia_bella22"),
        ("https://onlyfans.com/miabella22", "onlyfans/miabella22"),
        ("https://line.me/ti/p/~miabella22", "line/miabella22"),
        ("https://u.wechat.com/miabella22", "wechat/miabella22"),
        ("https://cash.app/$MiaBella22", "cashapp/miabella22"),
        ("https://venmo.com/u/Mia-Bella-22", "venmo/mia-bella-22"),
        ("https://paypal.me/miabella22", "paypal/miabella22"),
        ("https://www.paypal.com/paypalme/miabella22", "paypal/miabella22"),
    ],
)
def test_profile_links(link: str, account: str) -> None:
    found = kv(f"her profile {link} is still up")
    assert ("account", account) in found
    assert not any(k == "domain" for k, _ in found)  # a platform's domain would link everything
    assert any(k == "url" for k, _ in found)


@pytest.mark.parametrize(
    ("link", "kind", "value"),
    [
        ("https://t.me/sweet_pinay09", "telegram", "sweet_pinay09"),
        ("https://wa.me/639171234567", "whatsapp", "+639171234567"),
        ("https://www.snapchat.com/add/miabella22", "snapchat", "miabella22"),
        ("https://kik.me/miabella22", "kik", "miabella22"),
        ("https://discord.gg/abcDEF12", "discord", "discord.gg/abcDEF12"),
    ],
)
def test_profile_links_of_platforms_with_a_kind(link: str, kind: str, value: str) -> None:
    assert (kind, value) in kv(link)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("t.me/joinchat/AbCdEf123_xyz", "t.me/+AbCdEf123_xyz"),
        ("t.me/+AbCdEf123xyz", "t.me/+AbCdEf123xyz"),
        ("telegram.me/joinchat/AbCdEf123_xyz", "t.me/+AbCdEf123_xyz"),
        ("https://t.me/+AbCdEf123xyz", "t.me/+AbCdEf123xyz"),
        ("join our group https://t.me/joinchat/Qw-Er_Ty12345678/ now", "t.me/+Qw-Er_Ty12345678"),
        ("Telegram: t.me/+Zx9Yw8Vu7Ts6.", "t.me/+Zx9Yw8Vu7Ts6"),
        ("hxxps://t[.]me/+AbCdEf123xyz", "t.me/+AbCdEf123xyz"),
        ("folder: https://t.me/addlist/AbCdEf123xyz", "t.me/addlist/AbCdEf123xyz"),
    ],
)
def test_telegram_invite_links(text: str, value: str) -> None:
    """An invite link names a private group or channel: a telegram entity in its invite form, the code's
    case kept, "joinchat/<code>" and "+<code>" one value (they gave a URL in two normal forms, or the
    handle "addlist"); never a username, a phone or a domain."""
    assert kv(text) == {("telegram", value)}


def test_telegram_invite_is_not_a_username_or_a_phone() -> None:
    assert kv("t.me/+AbC12345678901234") == {("telegram", "t.me/+AbC12345678901234")}
    assert kv("TG: @joinchat") == set()
    assert normalise("telegram", "joinchat") is None
    assert normalise("telegram", "https://t.me/joinchat/AbCdEf123") == "t.me/+AbCdEf123"
    assert normalise("telegram", "t.me/+AbCdEf123") == "t.me/+AbCdEf123"
    assert normalise("telegram", "t.me/addstickers") is None
    # t.me/+<digits> opens the chat of a phone number: the phone
    assert kv("t.me/+639171234567") == {("phone", "+639171234567")}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("join us: tg://join?invite=AbCdEf123_xyz", "t.me/+AbCdEf123_xyz"),  # the same invite as t.me/+<code>
        ("open tg://resolve?domain=Sweet_Pinay09 in the app", "sweet_pinay09"),
        ("TG://resolve?domain=sweet_pinay09&post=12", "sweet_pinay09"),
        ("see https://t.me/c/1234567890/55 and t.me/c/1234567890/80", "t.me/c/1234567890"),  # one private channel
    ],
)
def test_telegram_app_links_and_private_channel_messages(text: str, value: str) -> None:
    """The app's own links (tg://) and a private channel's message links name the same account, invite or
    channel as their t.me forms would (they gave nothing, or a URL for each message)."""
    assert kv(text) == {("telegram", value)}


def test_telegram_links_in_a_structured_field_read_as_in_a_text() -> None:
    assert normalise("telegram", "tg://join?invite=AbCdEf123") == "t.me/+AbCdEf123"
    assert normalise("telegram", "tg://resolve?domain=Den_Keeper_77") == "den_keeper_77"
    assert normalise("telegram", "https://t.me/c/1234567890/55") == "t.me/c/1234567890"
    assert normalise("telegram", "https://t.me/den_keeper_77/12") == "den_keeper_77"  # a post: its channel
    assert normalise("telegram", "t.me/+639171234567") is None  # a phone, not a handle
    assert normalise("telegram", "tg://join?invite=ab") is None


def test_whatsapp_links_and_group_invites() -> None:
    # wa.me/<digits> is also written with a "+"
    assert kv("wa.me/+639171234567") == {("whatsapp", "+639171234567"), ("phone", "+639171234567")}
    # a group invite names no phone: the URL, never a whatsapp/phone entity nor the domain whatsapp.com
    assert kv("https://chat.whatsapp.com/AbCdEf123xyz") == {("url", "https://chat.whatsapp.com/AbCdEf123xyz")}
    assert kv("discord.gg/AbCd12 and https://discord.com/invite/AbCd12") == {("discord", "discord.gg/AbCd12")}


def test_a_name_that_begins_with_a_linking_word_is_read_whole() -> None:
    """The word "mia" (Italian "my") links a cue to its name ("IG mia: ..."), but "mia.bella" is a name: a
    linking word is one only when a space or a separator follows it (it gave nothing)."""
    assert kv("IG: mia.bella") == {("account", "instagram/mia.bella")}
    assert kv("kik: lo_fi.girl") == {("kik", "lo_fi.girl")}
    assert kv("my kik is annab99") == {("kik", "annab99")}


def test_an_arrow_between_platform_and_name() -> None:
    """Ads point at the name with an arrow or an emoji hand; an arrow is also a bullet ("Telegram 👉 precio
    30 euros"), so only a name with a digit, "_" or "." is taken after one."""
    assert kv("snapchat ➡️ sweetmia22 💋") == {("snapchat", "sweetmia22")}
    assert kv("kik → anna_b99") == {("kik", "anna_b99")}
    assert kv("en Telegram 👉 precio 30 euros") == set()


def test_payment_app_accounts() -> None:
    """Cash App cashtags, Venmo and PayPal names, the way ads and chats ask to be paid: accounts on their
    platform (the "$" of a cashtag is not part of the name); a sum in dollars after "cash app" is not one,
    nor is a PayPal page that names nobody."""
    found = kv("pay first. My Cash App is $ana4567 and Venmo @Ana-Reyes-12, or PayPal: anareyes99")
    for account in ("cashapp/ana4567", "venmo/ana-reyes-12", "paypal/anareyes99"):
        assert ("account", account) in found
    (tag,) = [f for f in extract("cashapp: $Lovely_Ana") if f.kind == "account"]
    assert (tag.value, tag.raw) == ("cashapp/lovely_ana", "$Lovely_Ana")
    assert kv("cash app $20 per show") == set()
    assert ("account", "paypal/signin") not in kv("log in at https://www.paypal.com/signin first")
    assert normalise("account", "Cash App/$Ana4567") == "cashapp/ana4567"


def test_posts_and_the_bare_platform_domain_are_not_accounts() -> None:
    assert kv("https://www.instagram.com/p/Cx12ab/") == {("url", "https://www.instagram.com/p/Cx12ab/")}
    assert kv("I found it on instagram.com") == set()


def test_one_platform_however_typed() -> None:
    for typed in ("CamChatLive (videochat)", "camchatlive", "CamChat Live", "camchat-live", "CAMCHATLIVE"):
        assert canonical_platform(typed) == "camchatlive", typed
    for typed in ("IG", "insta", "Instagram", "instagram (app)"):
        assert canonical_platform(typed) == "instagram", typed
    assert canonical_platform("Twitter") == "x"
    assert canonical_platform("") == "unknown" and canonical_platform(None) == "unknown"
    assert normalise("account", "@SweetPinay_Live23") == "unknown/sweetpinay_live23"


def test_platform_data_file_covers_the_listed_platforms() -> None:
    listed = {"telegram", "whatsapp", "skype", "snapchat", "kik", "discord", "instagram", "facebook", "tiktok", "x"}
    listed |= {"onlyfans", "line", "wechat", "viber", "signal"}
    assert listed <= set(platforms())
    for pid in listed:
        assert platforms()[pid].domains, pid
