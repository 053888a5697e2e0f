"""Triage rules as data: parsing errors that say what is wrong, and explainable scores."""

from __future__ import annotations

import pytest

from tipline.capabilities import rule_kinds
from tipline.triage import rules as triage
from tipline.triage.rules import DEFAULT_RULES, RulesError, ScoreInput, ages_in_text, parse_rules


def load_rules(path=None):  # type: ignore[no-untyped-def]
    """The rules with the installation's capabilities' kinds (``hash_match``, ``open_case``), as analysis loads them."""
    return triage.load_rules(path, kinds=rule_kinds())


def _input(**kw):
    base = dict(
        text="", language="en", category="other", source="public", is_live=False, escalate=False, victim_ages=[]
    )
    base.update(kw)
    return ScoreInput(**base)


def test_defaults_load_and_every_rule_has_a_rationale_comment():
    rs = load_rules()
    assert len(rs.rules) >= 10
    text = DEFAULT_RULES.read_text()
    # every rule block carries a comment (the rationale) or shares the one of its family
    assert text.count("[[rule]]") == len(rs.rules)


def test_live_with_a_child_is_p1_and_says_why():
    s = load_rules().score(_input(is_live=True, category="live_streamed_abuse", text="a child is on camera"))
    assert s.priority == 1 and s.signals == {"child", "now"}
    assert [r.rule for r in s.reasons][:1] == ["live-abuse"]


def test_p1_needs_a_child_and_now():
    rules = load_rules()
    # a panic button whose note says the performer is probably an adult: urgent work, not P1
    adult = rules.score(
        _input(
            is_live=True,
            escalate=True,
            source="live",
            category="live_streamed_abuse",
            text="Panic button pressed; reviewer thinks the performer is an adult, checking.",
        )
    )
    assert adult.priority == 2 and "adult-said" in {r.rule for r in adult.reasons}
    # a child of 10 and a known network, but nothing says it is happening now: high score, still P2
    known = rules.score(
        _input(victim_ages=[10], category="child_sex_trafficking", entity_report_counts={"phone:+639170000000": 5})
    )
    assert known.score >= rules.thresholds[0] and known.priority == 2
    # a platform's escalation (or a panic button) is the platform saying "a child, now"
    assert rules.score(_input(escalate=True, source="platform")).priority == 1
    assert rules.score(_input(escalate=True, is_live=True, source="live", category="live_streamed_abuse")).priority == 1


def test_rules_read_report_and_file_annotations():
    s = load_rules().score(_input(annotations=["spam"], file_annotations=["infant", "liveStreaming"]))
    fired = {r.rule: r.detail for r in s.reasons}
    assert fired["file-infant"] == "infant" and fired["file-live-stream"] == "liveStreaming"
    assert "spam-tagged" in fired


def test_p1_needs_must_name_a_signal_some_rule_gives():
    with pytest.raises(RulesError, match="p1_needs names now"):
        parse_rules("[priority]\np1_needs=['now']\n[[rule]]\nid='x'\ndescription='d'\nkind='live'\npoints=1\n")
    with pytest.raises(RulesError, match="signals must be a list"):
        parse_rules("[[rule]]\nid='x'\ndescription='d'\nkind='live'\npoints=1\nsignals='now'\n")


def test_plain_report_is_p4():
    assert load_rules().score(_input(text="a strange website")).priority == 4


@pytest.mark.parametrize(
    ("text", "lang", "rule"),
    [
        ("it is happening right now on cam", "en", "imminent-danger-en"),
        ("sta succedendo adesso in diretta", "it", "imminent-danger-it"),
        ("ngayon na po, tulungan ninyo", "tl", "imminent-danger-tl"),
    ],
)
def test_imminent_danger_language(text, lang, rule):
    s = load_rules().score(_input(text=text, language=lang))
    fired = {r.rule: r for r in s.reasons}
    assert rule in fired and fired[rule].detail


def test_ages_in_text_three_languages():
    assert ages_in_text("she is 12 years old") == [12]
    assert ages_in_text("una bambina di 9 anni") == [9]
    assert ages_in_text("mga 11 taong gulang") == [11]
    assert ages_in_text("price 25 USD, room 12") == []


def test_victim_age_and_escalation_caps():
    s = load_rules().score(_input(victim_ages=[10], escalate=True, source="cybertip"))
    assert s.priority <= 2
    assert {"young-child", "minor", "platform-escalation"} <= {r.rule for r in s.reasons}


def test_seen_entities_detail_lists_identifiers():
    s = load_rules().score(_input(entity_report_counts={"phone:+639170000000": 4, "email:a@b.com": 1}))
    fired = {r.rule: r for r in s.reasons}
    assert "phone:+639170000000 (4)" in fired["known-identifiers"].detail
    assert "known-identifiers-many" in fired


def test_hash_match_hook():
    s = load_rules().score(_input(facts={"media.hash_match_labels": ["known abuse material"]}))
    assert s.priority <= 2 and "known-abuse-hash" in {r.rule for r in s.reasons}


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[[rule]]\nid='x'\ndescription='d'\nkind='nope'\npoints=1", "unknown kind 'nope'"),
        ("[[rule]]\nid='x'\ndescription='d'\nkind='category'\npoints=1", "needs 'categories'"),
        ("[[rule]]\nid='x'\nkind='live'\npoints=1", "missing 'description'"),
        ("[[rule]]\nid='x'\ndescription='d'\nkind='text_pattern'\npatterns=['(']\npoints=1", "bad pattern"),
        ("[[rule]]\nid='x'\ndescription='d'\nkind='live'\npoints=1\nmax_priority=7", "max_priority"),
        ("[priority]\np1=10\np2=50\np3=5", "p1 >= p2 >= p3"),
        ("[[rule]]\nid='x'\ndescription='d'\nkind='live'\npoints=1\nmin_priority=0", "min_priority"),
        ("not toml = = =", "not valid TOML"),
    ],
)
def test_bad_rules_say_what_is_wrong(toml, message):
    with pytest.raises(RulesError, match=message):
        parse_rules(toml, source="t.toml")


def test_edited_rules_file_is_reloaded(tmp_path):
    p = tmp_path / "rules.toml"
    p.write_text("[[rule]]\nid='x'\ndescription='any report'\nkind='source'\nsources=['public']\npoints=200\n")
    assert load_rules(p).score(_input()).priority == 1
    import os
    import time

    p.write_text("[[rule]]\nid='x'\ndescription='any report'\nkind='source'\nsources=['public']\npoints=1\n")
    os.utime(p, (time.time() + 5, time.time() + 5))
    assert load_rules(p).score(_input()).priority == 4


def test_capability_kinds_are_needed_by_the_default_rules():
    """The default rules use capabilities' kinds: without them the file is refused, naming the kind."""
    with pytest.raises(RulesError, match="unknown kind 'hash_match'"):
        triage.load_rules(None)
    s = load_rules().score(_input(facts={"graph.open_case_ids": [7]}))
    assert "case 7" in {r.rule: r.detail for r in s.reasons}["open-case"]
