"""The shift's services and pages through the served app (SQLite and PostgreSQL): assign, saved filters,
notifications, the overdue check with its webhook (a real HTTP server started by the test), search by
local phone form and handle prefix, and the migration up and down.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from helpers import PASSWORD, before_migration, login_as
from tipline.accounts import service as accounts
from tipline.errors import Conflict
from tipline.intake import service as intake
from tipline.intake.schemas import PublicReportIn, Status
from tipline.reports import service as reports
from tipline.reports import shift
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import AuditEvent, Report, StaffSession


def _file(db: Database, text: str, *, category: str = "other", **kw: Any) -> int:
    return intake.submit_report(db, PublicReportIn(category=category, text=text, **kw).to_report()).report_id  # type: ignore[arg-type]


def _age(db: Database, report_id: int, minutes: int) -> None:
    with db.session() as s:
        s.execute(
            update(Report)
            .where(Report.id == report_id)
            .values(received_at=datetime.now(UTC) - timedelta(minutes=minutes))
        )


def _login(client, name: str) -> str:  # type: ignore[no-untyped-def]
    login_as(client, name)
    page = client.get("/queue")
    assert page.status_code == 200
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return token


def test_claim_assign_and_bulk_are_audited(db: Database) -> None:
    ana = accounts.create_user(db, "ana", "analyst", PASSWORD)
    bo = accounts.create_user(db, "bo", "analyst", PASSWORD)
    a, b = _file(db, "first"), _file(db, "second")
    shift.claim(db, a, ana)
    shift.claim(db, a, ana)  # again: nothing changes, no second event
    with pytest.raises(Conflict, match="already claimed by ana"):
        shift.claim(db, a, bo)
    shift.assign(db, a, ana, bo.id)
    res = shift.bulk(db, [a, b], ana, status=Status.IN_REVIEW, label="night shift")
    assert res.changed == [a, b]
    again = shift.bulk(db, [a, b], ana, status=Status.IN_REVIEW, label="night shift")
    assert again.changed == [] and again.unchanged == [a, b]
    with pytest.raises(ValueError, match="choose what to change"):
        shift.bulk(db, [a], ana)
    with db.reader() as s:
        actions = [(e.action, e.target_id) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        rows = {r.id: r for r in s.scalars(select(Report))}
    assert [x for x in actions if x[0].startswith("report.")] == [
        ("report.claim", str(a)),
        ("report.assign", str(a)),
        ("report.bulk", None),
    ]
    assert rows[a].assignee_id == bo.id and rows[a].labels == ["night shift"] and rows[b].status == "in_review"
    assert rows[a].first_action_at is not None and rows[b].first_action_at is not None
    mine, _ = reports.queue(db, reports.QueueFilter(owner="mine", viewer_id=bo.id))
    assert [i.id for i in mine] == [a] and mine[0].assignee == "bo"
    free, _ = reports.queue(db, reports.QueueFilter(owner="unassigned"))
    assert [i.id for i in free] == [b]


def test_search_reads_the_query_as_the_extractor_reads_a_report(db: Database) -> None:
    phone = _file(db, "Pay first, text +63 917 555 0101", country="PH")
    handle = _file(db, "Selling shows, telegram @rubyvibe505")
    other = _file(db, "Nothing to see, order 0917")
    ana = accounts.create_user(db, "ana", "analyst", PASSWORD)
    reports.update_report(db, handle, ana, status=Status.NO_ACTION)

    def found(q: str, **kw: Any) -> set[int]:
        return {i.id for i in reports.queue(db, reports.QueueFilter(q=q, **kw))[0]}

    assert found("0917 555 0101") == {phone}  # every reading of a local form without a country
    assert found("0917-555-0101", country="PH") == {phone}
    assert found("rubyvi") == set()  # closed: not open work
    assert found("@rubyvi", status="all") == {handle}
    assert found("RUBYVIBE", status="all") == {handle}
    assert found("ru", status="all") == set()  # too short to be a prefix
    assert other not in found("0917 555 0101", status="all")


def test_reanalysis_replaces_a_report_s_words_in_the_search_index(db: Database) -> None:
    rid = _file(db, "First words: marigold")

    def found(q: str) -> set[int]:
        return {i.id for i in reports.queue(db, reports.QueueFilter(q=q, status="all"))[0]}

    assert found("marigold") == {rid}
    with db.session() as s:
        row = s.get(Report, rid)
        assert row is not None
        row.text = "Second words: hollyhock"
    intake.analyse_report(db, rid)
    assert found("hollyhock") == {rid}
    assert found("marigold") == set()  # the earlier analysis's words are gone, not kept beside the new


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Hook.received = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook", _Hook.received
    srv.shutdown()
    srv.server_close()


def test_overdue_reports_notify_on_duty_supervisors_and_the_webhook(db: Database, webhook, client) -> None:  # type: ignore[no-untyped-def]
    url, received = webhook
    db.settings = db.settings.model_copy(update={"overdue_webhook": url})
    sup = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    accounts.create_user(db, "off", "supervisor", PASSWORD)  # no session: not on duty
    late = _file(db, "A child of 10 on a live stream right now", category="live_streamed_abuse", is_live=True)
    young = _file(db, "A child of 10 on a live stream right now", category="live_streamed_abuse", is_live=True)
    _age(db, late, 20)
    with db.session() as s:
        s.add(StaffSession(id="x" * 64, user_id=sup.id, csrf_token="c", stage="full"))
    res = shift.check_overdue(db)
    assert res.overdue == [late] and res.notified == 1 and res.webhook_sent == 1
    assert received == [{"event": "report.overdue", "report_id": late, "priority": 1, "minutes_overdue": 5}]
    assert [n["report_id"] for n in shift.notifications(db, sup)] == [late]
    again = shift.check_overdue(db)  # once per report
    assert again.overdue == [late] and again.notified == 0 and again.webhook_sent == 0 and len(received) == 1
    item = {i.id: i for i in reports.queue(db, reports.QueueFilter())[0]}
    assert item[late].overdue and not item[young].overdue and item[young].due_at is not None
    shift.claim(db, late, sup)  # the first action ends the timer
    assert shift.check_overdue(db).overdue == []
    shift.mark_read(db, sup)
    assert shift.notifications(db, sup) == []


def test_bad_targets_say_what_to_write(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="four positive whole numbers"):
        shift.targets(Settings(data_dir=tmp_path, first_action_minutes="15,abc"))


def test_shift_pages_through_the_served_app(db: Database, client) -> None:  # type: ignore[no-untyped-def]
    ana = accounts.create_user(db, "ana", "analyst", PASSWORD)
    bo = accounts.create_user(db, "bo", "analyst", PASSWORD)
    rid = _file(db, "something to look at")
    csrf = _login(client, "ana")
    r = client.post(
        f"/reports/{rid}/assign",
        data={"csrf_token": csrf, "assignee": str(bo.id), "next": "/queue"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    r = client.post(
        f"/reports/{rid}/assign",
        data={"csrf_token": csrf, "assignee": "9999", "next": "/queue"},
        follow_redirects=False,
    )
    assert r.status_code == 404
    # another site is never a place to go back to
    r = client.post(
        f"/reports/{rid}/claim", data={"csrf_token": csrf, "next": "//evil.example/"}, follow_redirects=False
    )
    assert r.status_code == 409  # bo holds it
    r = client.post(
        "/queue/filters",
        data={"csrf_token": csrf, "name": "P1 mine", "query": "priority=1&owner=mine"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/queue?priority=1&owner=mine"
    page = client.get("/queue")
    assert 'href="/queue?priority=1&amp;owner=mine">P1 mine</a>' in page.text
    (saved,) = shift.saved_filters(db, ana)
    assert shift.saved_filters(db, bo) == []  # per user
    r = client.post(f"/queue/filters/{saved['id']}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and shift.saved_filters(db, ana) == []
    r = client.post("/queue/bulk", data={"csrf_token": csrf, "status": "in_review"}, follow_redirects=False)
    assert r.status_code == 422 and "Choose at least one report" in r.text
    r = client.post("/notifications/read", data={"csrf_token": csrf, "next": "/queue"}, follow_redirects=False)
    assert r.status_code == 303


@pytest.mark.parametrize("backend_url", ["sqlite", "postgres"])
def test_migration_up_and_down(tmp_path, backend_url) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import inspect, text

    with before_migration(backend_url, tmp_path, "_shift.py") as m:
        with m.engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO reports (id, source, category, status, priority, score, reasons, text, is_live, "
                    "escalate, received_at, updated_at, persons, urls, details, submission_state) VALUES "
                    "(1, 'public', 'other', 'new', 3, 0, '[]', '', false, false, :t, :t, '', '[]', '', 'complete')"
                ),
                {"t": datetime.now(UTC)},
            )
        m.up()
        with m.engine.connect() as c:
            assert c.execute(text("SELECT labels, assignee_id FROM reports")).one()[1] is None
        assert {"saved_filters", "staff_notifications"} <= set(inspect(m.engine).get_table_names())
        m.down()
        m.engine.dispose()
        assert "saved_filters" not in inspect(m.engine).get_table_names()
        assert "assignee_id" not in {c["name"] for c in inspect(m.engine).get_columns("reports")}
        m.up("head")


def test_rule_reasons_warning_reasons_and_fields_have_italian_words() -> None:
    """The default rules' descriptions and the built-in warning list's reasons are in the catalogues (a
    rule or entry added to the data files without its translation fails here), and a field path reads
    as people say it."""
    import tomllib

    from tipline.i18n import gettext_for
    from tipline.i18n.labels import RULE, WARNING_REASONS, field_words, reason
    from tipline.triage.rules import DEFAULT_RULES

    rules = tomllib.loads(DEFAULT_RULES.read_text())["rule"]
    assert {r["id"]: r["description"] for r in rules} == RULE
    warnings = tomllib.loads((Path(shift.__file__).parents[1] / "graph" / "warninglist.toml").read_text())
    assert {e["reason"] for e in warnings["entry"]} == WARNING_REASONS
    it = gettext_for("it")
    for message in [*RULE.values(), *WARNING_REASONS]:
        assert it(message) != message, message
    assert reason("live-abuse", "whatever", "it") == "Abuso segnalato come in diretta o in corso"
    assert reason("a-hotline-rule", "Our own rule", "it") == "Our own rule"
    roles = ["reported", "victim", "victim"]
    assert field_words("persons[2].identifiers[0]", roles, "it") == "Vittima 2: identificativi"
    assert field_words("persons[0].ip_events[1]", roles, "en") == "Reported person 1: IP addresses"
    assert field_words("text", roles, "it") == "il testo della segnalazione"
