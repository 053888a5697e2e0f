"""Issue 13 on the staff report page and in the graph: the disguise an identifier was written in, the
other reading of an ambiguous number, and links through an ambiguous reading only once it is confirmed
(by another identifier or by an analyst). Real app, real database; made-up numbers."""

from __future__ import annotations

from helpers import _csrf, css, login, page, prime_csrf, public  # noqa: F401 (_csrf: autouse)
from tipline.graph.network import network_of_report
from tipline.intake.schemas import Category
from tipline.reports import service as reports
from tipline.store.models import Report

AMBIGUOUS = "My cousin in the Philippines is forced to do shows, the number is O9l7 l23 4567."
PH = "+639171234567"
IT_READING = "+3909171234567"


def _network(db, rid: int) -> int | None:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return network_of_report(s, rid)


def _phone(db, rid: int):  # type: ignore[no-untyped-def]
    (e,) = [e for e in reports.get_report(db, rid).entities if e.kind == "phone"]
    return e


def test_report_page_shows_disguise_and_alternative_reading_and_analyst_confirms(client, db, ana):  # noqa: F811
    sure = public(db, Category.OTHER, text=f"They call from {PH[:3]} 917 123 4567 every night.", country="PH")
    amb = public(db, Category.OTHER, text=AMBIGUOUS, country="IT")
    e = _phone(db, amb)
    assert e.value == PH and e.disguise == "letters"
    assert [v for v, _ in e.alternatives] == [IT_READING] and e.linkable is False
    # the same number, but only one reading of it: no link yet
    assert _network(db, amb) != _network(db, sure)

    login(client)
    prime_csrf(client)
    doc = page(client.get(f"/reports/{amb}"))
    (item,) = css(doc, "ul.entities[data-kind=phone] li")[:1]
    assert css(item, "span.disguise")[0].get("data-disguise") == "letters"
    assert "letters for digits" in css(item, "span.disguise")[0].text_content()
    (reading,) = css(item, "div.reading")
    assert reading.get("data-linked") == "no"
    assert [c.text_content() for c in css(reading, "code.alternative")] == [IT_READING]

    # the analyst confirms the Philippine reading: the report is analysed again and links
    r = client.post(
        f"/reports/{amb}/reading", data={"key": reading.get("data-key"), "value": PH}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    e = _phone(db, amb)
    assert e.value == PH and e.linkable is True and [v for v, _ in e.alternatives] == [IT_READING]
    assert _network(db, amb) == _network(db, sure)
    doc = page(client.get(f"/reports/{amb}"))
    assert css(doc, "ul.entities[data-kind=phone] div.reading")[0].get("data-linked") == "yes"

    # a value that is not one of the readings is refused, with a page that says what to do
    r = client.post(f"/reports/{amb}/reading", data={"key": reading.get("data-key"), "value": "+15555550100"})
    assert r.status_code == 422 and "Reload the page" in r.text


def test_reading_confirmed_by_another_identifier(db):
    # an earlier report names the same Telegram handle and the Philippine number written internationally
    first = public(db, Category.OTHER, text="tg: @den_host_77, call +63 917 123 4567", country="PH")
    amb = public(db, Category.OTHER, text=AMBIGUOUS + " Telegram: @den_host_77", country="IT")
    e = _phone(db, amb)
    assert e.value == PH and e.linkable is True  # confirmed by the shared handle's report
    assert _network(db, amb) == _network(db, first)


def test_later_report_confirms_an_earlier_ambiguous_reading(db):
    amb = public(db, Category.OTHER, text=AMBIGUOUS + " Telegram: @den_host_78", country="IT")
    assert _phone(db, amb).linkable is False
    later = public(db, Category.OTHER, text="tg: @den_host_78, call +63 917 123 4567", country="PH")
    assert _phone(db, amb).linkable is True
    assert _network(db, amb) == _network(db, later)


def test_only_an_identifier_that_can_confirm_a_reading_checks_it_again(db):
    """A reading is confirmed through a shared identifier named by at most ``_CONFIRM_MAX_REPORTS`` reports
    (a platform's domain confirms nothing). A report sharing only a more crowded one with a waiting reading
    does not analyse that report again; one sharing a rarer identifier does (and confirms it)."""
    from tipline.intake import service as intake

    amb = public(db, Category.OTHER, text=AMBIGUOUS + " Telegram: @crowded_host Telegram: @rare_host", country="IT")
    for i in range(intake._CONFIRM_MAX_REPORTS):
        public(db, Category.OTHER, text=f"tg: @crowded_host, report {i}", country="PH")

    crowded = public(db, Category.OTHER, text="tg: @crowded_host, call +63 917 123 4567", country="PH")
    with db.session() as s:  # analysed again, to see what it would check again: 52 reports name that handle
        assert intake.analyse_in(s, db, intake.rules_in_force(db), crowded)[1] == []
    assert _phone(db, amb).linkable is False
    public(db, Category.OTHER, text="tg: @rare_host, call +63 917 123 4567", country="PH")
    assert _phone(db, amb).linkable is True  # checked again, and confirmed through the rarer handle


def test_a_report_whose_only_unlinked_mention_is_a_name_is_not_analysed_again(db):
    """A person's name names an entity without linking (like an unconfirmed reading), but there is no reading
    to confirm: a later report sharing an identifier with it does not analyse it again."""
    from tipline.accounts import service as accounts
    from tipline.intake import service as intake
    from tipline.intake.schemas import PlatformReportIn

    p = accounts.create_platform(db, "NamesChat")
    named = intake.submit_report(
        db,
        PlatformReportIn(
            report_id="n1", category="other", text="tg: @named_host", reported_persons=[{"name": "Maria Example"}]
        ).to_report(p.id),
    ).report_id
    with db.reader() as s:
        assert any(m.field.endswith(".name") and not m.linkable for m in s.get(Report, named).mentions)
    later = public(db, Category.OTHER, text="tg: @named_host, call +63 917 123 4567", country="PH")
    with db.session() as s:
        assert intake.analyse_in(s, db, intake.rules_in_force(db), later)[1] == []


def test_the_readings_to_check_again_are_found_through_the_index_of_unlinked_mentions(db):
    """The query for reports with an unconfirmed reading reads the few unlinked mentions through their partial
    index (``ix_mentions_unlinked``), not every mention: its condition must be the query's, term for term, or
    SQLite ignores the index (and PostgreSQL read the whole table, 1.8 ms a report after 3,000 reports)."""
    from sqlalchemy import event, select

    from tipline.intake import service as intake
    from tipline.store.models import Entity

    amb = public(db, Category.OTHER, text=AMBIGUOUS + " Telegram: @indexed_host", country="IT")
    later = public(db, Category.OTHER, text="tg: @indexed_host, some words", country="PH")
    with db.reader() as s:
        handle = s.scalar(select(Entity.id).where(Entity.kind == "telegram", Entity.value.contains("indexed_host")))
    ran: list = []

    def seen(_conn, _cursor, statement, parameters, *_a):  # type: ignore[no-untyped-def]
        ran.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.reader() as s:
            assert list(s.scalars(intake._WAITING, {"ids": [handle], "report_id": later})) == [amb]
            statement, parameters = ran[-1]
            conn = s.connection()
            if db.dialect == "postgresql":  # a table this small is read whole whatever its indexes: not here
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))
            else:
                plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert "ix_mentions_unlinked" in plan, plan


def test_a_reports_mentions_are_written_anew_with_every_column(db):
    """Analysis deletes a report's mentions and writes the new ones (on PostgreSQL in one statement, the new
    ones given as arrays): every column as extraction found it, the old rows gone after a re-analysis."""
    from sqlalchemy import select

    from tipline.intake import service as intake
    from tipline.store.models import Entity, Mention

    text = AMBIGUOUS + " Pictures at https://pics.example-host.com/a/1"
    rid = public(db, Category.OTHER, text=text, country="IT")

    def mentions():  # type: ignore[no-untyped-def]
        with db.reader() as s:
            q = select(Entity.kind, Entity.value, Mention).join(Entity, Entity.id == Mention.entity_id)
            return {(k, v): m for k, v, m in s.execute(q.where(Mention.report_id == rid))}

    first = mentions()
    phone = first[("phone", PH)]
    assert phone.field == "text" and text[phone.start : phone.end].startswith("O9l7")
    assert phone.disguise == "letters" and phone.linkable is False and phone.confidence < 1.0
    assert [v for v, _ in phone.alternatives] == [IT_READING] and 0 < phone.alternatives[0][1] < phone.confidence
    assert first[("url", "https://pics.example-host.com/a/1")].linkable is True and phone.created_at is not None
    with db.session() as s:
        s.get(Report, rid).text = AMBIGUOUS  # type: ignore[union-attr]
    intake.analyse_report(db, rid)
    again = mentions()
    assert ("domain", "example-host.com") in first and set(again) == {("phone", PH)}
    assert again[("phone", PH)].id != phone.id and again[("phone", PH)].alternatives == phone.alternatives
