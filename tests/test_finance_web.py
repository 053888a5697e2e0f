"""Payment alerts in the hotline's picture, through the real app and database (SQLite and PostgreSQL):
stored by `tipline finance screen`, listed and shown with their rules, chart and beneficiaries, linked to the
report and network that name a beneficiary's phone, held by a case and exported for an FIU."""

from __future__ import annotations

import csv
import io

import lxml.html
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from helpers import PASSWORD
from tipline.accounts import service as accounts
from tipline.finance.importer import COLUMNS
from tipline.graph import cases
from tipline.intake import service as intake
from tipline.intake.schemas import PublicReportIn
from tipline.store import Database

PHONE = "+639171234567"


def _payments(path):  # type: ignore[no-untyped-def]
    rows = []
    for i in range(6):
        ben = f"gcash:{PHONE}" if i % 2 == 0 else f"fac{i}"
        name = "Maria Reyes" if i % 2 == 0 else f"Ana Cruz{i}"
        ts = f"2025-03-{1 + 5 * i:02d}T02:30:00+10:00"
        rows.append(
            [f"t{i}", ts, "AU-77", "Alex Walker", "AU", "40.00", "AUD", ben, name, "PH", "remittance", "school fees"]
        )
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(rows)
    return path


def _login(client: TestClient, db: Database) -> str:
    accounts.create_user(db, "fin", "analyst", PASSWORD)
    token = lxml.html.fromstring(client.get("/login").text).xpath("//input[@name='csrf_token']/@value")
    r = client.post(
        "/login",
        data={"name": "fin", "password": PASSWORD, "csrf_token": token[0] if token else ""},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(lxml.html.fromstring(client.get("/networks").text).xpath("//input[@name='csrf_token']/@value")[0])


def test_alerts_reach_pages_reports_networks_and_cases(client: TestClient, db: Database, tmp_path) -> None:
    from tipline.cli.main import app

    text = f"Room with webcam, pay by gcash {PHONE} first"
    rid = intake.submit_report(
        db, PublicReportIn(category="trafficking_advertisement", text=text, language="en", country="PH").to_report()
    ).report_id
    other = intake.submit_report(
        db,
        PublicReportIn(
            category="trafficking_advertisement", text=f"again {PHONE}", language="en", country="PH"
        ).to_report(),
    ).report_id
    dd = ["--data-dir", str(db.settings.data_dir), "--database-url", db.settings.resolved_database_url()]
    run = CliRunner().invoke
    r = run(app, [*dd, "finance", "import", str(_payments(tmp_path / "p.csv"))])
    assert r.exit_code == 0, r.output
    r = run(app, [*dd, "finance", "screen"])
    assert r.exit_code == 0, r.output
    assert "1 alerts kept in the database" in r.output

    csrf = _login(client, db)
    page = lxml.html.fromstring(client.get("/finance/alerts").text)
    rows = page.xpath("//tr[@data-alert-id]")
    assert len(rows) == 1 and "AU-77" in rows[0].text_content() and "Alex Walker" in rows[0].text_content()
    aid = int(rows[0].get("data-alert-id"))
    leads = client.get("/finance/leads").text
    assert f"/finance/alerts/{aid}" in leads and "night_hours" in leads
    assert "/finance/leads" in client.get("/queue").text

    detail = client.get(f"/finance/alerts/{aid}")
    assert detail.status_code == 200
    doc = lxml.html.fromstring(detail.text)
    fired = {tr.get("data-rule"): tr.text_content() for tr in doc.xpath("//tr[@data-rule]")}
    assert {"low_value", "night_hours", "frequency", "high_risk_country"} <= set(fired)
    assert "FATF" in fired["night_hours"] and "SELECT" in fired["night_hours"]
    assert len(doc.xpath("//svg[@class='payment-chart']//circle")) == 6
    assert f"gcash:{PHONE}" in detail.text and "Maria Reyes" in detail.text
    assert f"/reports/{rid}" in detail.text and f"/reports/{other}" in detail.text and "/networks/" in detail.text

    assert f"/finance/alerts/{aid}" in client.get(f"/reports/{rid}/payment-alerts").text
    assert f"/reports/{rid}/payment-alerts" in client.get(f"/reports/{rid}").text
    nets = {r for r in doc.xpath("//a/@href") if r.startswith("/networks/")}
    net = nets.pop()
    assert f"/finance/alerts/{aid}" in client.get(f"{net}/payment-alerts").text

    case_id = cases.create_case(db, "fin", title="Payments", report_ids={rid})
    r = client.post(
        f"/finance/alerts/{aid}/case", data={"case_id": case_id, "csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert client.post(f"/finance/alerts/{aid}/case", data={"case_id": 99999, "csrf_token": csrf}).status_code == 404
    out = client.get(f"/cases/{case_id}/payment-alerts.csv")
    lines = list(csv.DictReader(io.StringIO(out.text)))
    assert {x["rule"] for x in lines} >= {"night_hours", "low_value"} and all(x["source"] for x in lines)
    r = client.post(
        f"/finance/alerts/{aid}/status", data={"status": "reviewed", "csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "reviewed" in client.get("/finance/alerts?status=reviewed").text
    api = client.get(f"/api/v1/finance/alerts/{aid}").json()
    assert api["sender_id"] == "AU-77" and api["case_id"] == case_id
    assert any(x["report_id"] == rid for x in api["reports"])
    # the referral package of the case carries the alerts, as CSV plus the rule evidence
    import json
    import zipfile

    from tipline.routing import agencies as directory
    from tipline.routing import referral as ref

    agency = directory.list_agencies(db)[0].id
    pkg = ref.build(ref.gather(db, case_id=case_id, agency_id=agency, created_by="fin"), "package")
    z = zipfile.ZipFile(io.BytesIO(pkg.data))
    assert {"payment-alerts/alerts.csv", "payment-alerts/evidence.json"} <= set(z.namelist())
    rows = list(csv.DictReader(io.StringIO(z.read("payment-alerts/alerts.csv").decode())))
    assert {x["rule"] for x in rows} >= {"night_hours"} and rows[0]["sender_id"] == "AU-77"
    ev = json.loads(z.read("payment-alerts/evidence.json"))["alerts"][0]["evidence"]
    assert any("SELECT" in r["sql"] for r in ev["rules"])
    assert "payment-alerts/alerts.csv" in {f["name"] for f in pkg.manifest["files"]}

    # every view of alerts is audited like a report view (who saw which alerts, where); never the names
    from sqlalchemy import select

    from tipline.store.models import AuditEvent

    with db.reader() as s:
        events = list(s.execute(select(AuditEvent.actor, AuditEvent.action, AuditEvent.target_id, AuditEvent.details)))
    seen = {(actor, action) for actor, action, _, _ in events}
    assert ("user:fin", "finance.alert.view") in seen
    assert ("user:fin", "finance.alerts.list") in seen
    assert ("cli", "finance.screen.output") in seen
    views = [t for _, action, t, _ in events if action == "finance.alert.view"]
    assert str(aid) in views and len(views) >= 3  # page, API, case CSV
    lists = [d for _, action, _, d in events if action == "finance.alerts.list"]
    assert {"report": rid, "ids": [aid]}.items() <= next(d for d in lists if "report" in d).items()
    assert any("network" in d for d in lists) and any(d.get("status") == "reviewed" for d in lists)
    assert not any("Alex Walker" in str(d) or "Maria Reyes" in str(d) for _, _, _, d in events)
