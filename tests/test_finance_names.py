"""Names into the entity graph, blind (issue 12, item 4): a beneficiary named in a report links the payer's
alert to that report and its network, through a keyed blind index of the name (kind ``name``); the clear
name is stored nowhere but the sealed fields, and a name links no two reports by itself."""

from __future__ import annotations

import csv
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from helpers import bearer, login_as
from tipline.accounts import service as accounts
from tipline.crypto import Keyring, normal_name
from tipline.finance import service as finance
from tipline.finance.importer import COLUMNS, import_payments
from tipline.finance.models import PaymentAlertIdentifier
from tipline.finance.rules import load_rules
from tipline.finance.screen import screen
from tipline.finance.store import FinanceStore
from tipline.graph.network import network_of_report
from tipline.store import Database


def _report(client: TestClient, platform: accounts.PlatformCredentials, rid: str, phone: str, name: str) -> int:
    body = {
        "report_id": rid,
        "category": "child_sex_trafficking",
        "text": f"the facilitator answers on {phone}",
        "country": "PH",
        "reported_persons": [{"name": name, "identifiers": [{"kind": "phone", "value": phone}]}],
    }
    r = client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key))
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


def _payments(path: Path) -> Path:
    rows = []
    for i in range(6):  # a live-stream payer's shape: small sums at night to the Philippines
        ben, name = ("gcash-acct-1", "Maria Reyes") if i % 2 == 0 else (f"fac{i}", f"Ana Cruz{i}")
        ts = f"2025-03-{1 + 5 * i:02d}T02:30:00+10:00"
        rows.append([f"t{i}", ts, "AU-77", "Alex Walker", "AU", "40.00", "AUD", ben, name, "PH", "remittance", ""])
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(rows)
    return path


def test_normal_name_and_the_keyed_index() -> None:
    assert normal_name("  REYES, María ") == normal_name("maria reyes") == "maria reyes"
    assert normal_name("Maria") is None and normal_name("A B") is None  # too little to link strangers
    a = Keyring(b"\x01" * 32, index_key=b"\x02" * 32)
    b = Keyring(b"\x01" * 32, index_key=b"\x03" * 32)
    assert a.name_index("Reyes Maria") == a.name_index("MARÍA   REYES") != b.name_index("Maria Reyes")
    assert a.name_index("Maria Reyes") != a.blind("maria reyes")  # a key of its own, not the search index's
    assert a.name_index("Maria") is None


def test_a_beneficiary_named_in_a_report_links_the_payer_to_that_network(
    client: TestClient, db: Database, platform: accounts.PlatformCredentials, tmp_path: Path, ana: object
) -> None:
    named = _report(client, platform, "r1", "0917 555 0101", "REYES, María")
    same_phone = _report(client, platform, "r2", "0917 555 0101", "Jo Santos")
    stranger = _report(client, platform, "r3", "0917 555 0202", "maria  reyes")  # same name, nothing else
    with db.reader() as s:
        net = network_of_report(s, named)
        assert net is not None and network_of_report(s, same_phone) == net
        assert network_of_report(s, stranger) != net  # a name alone links no reports

    store = FinanceStore.in_data_dir(db.settings.data_dir)
    import_payments(store, _payments(tmp_path / "p.csv"))
    assert finance.save_alerts(db, screen(store, load_rules()))[0] == 1
    aid = finance.list_alerts(db)[0].id

    view = finance.get_alert(db, aid)
    by_name = {(r.report_id, r.network_id) for r in view.reports if r.kind == "name" and r.role == "beneficiary"}
    assert (named, net) in by_name and any(rid == stranger for rid, _ in by_name)
    assert all(r.value is None for r in view.reports if r.kind == "name")
    # the alert's page and API say that the names match, never the keyed index
    login_as(client, "ana")
    page = client.get(f"/finance/alerts/{aid}")
    api = client.get(f"/api/v1/finance/alerts/{aid}", headers=bearer(accounts.create_token(db, "ana")))
    assert page.status_code == api.status_code == 200, (page.text, api.text)
    assert "the same name" in page.text and f"/reports/{named}" in page.text
    assert {"kind": "name", "value": None, "role": "beneficiary", "report_id": named, "network_id": net} in (
        api.json()["reports"]
    )
    for blind in (db.keyring.name_index("Maria Reyes"), db.keyring.name_index("Alex Walker")):
        assert blind and blind[:16] not in page.text and blind[:16] not in api.text
    assert [a.id for a in finance.alerts_for_report(db, named)] == [aid]
    assert [a.id for a in finance.alerts_for_network(db, net)] == [aid]  # the payer, into that network

    index = db.keyring.name_index("Maria Reyes")
    with db.reader() as s:
        kinds = set(s.execute(select(PaymentAlertIdentifier.kind, PaymentAlertIdentifier.value)))
        assert ("name", index) in kinds and ("name", db.keyring.name_index("Alex Walker")) in kinds
        # the clear names are in no column that is not sealed
        for table, cols in (
            ("entities", "kind, value"),
            ("mentions", "field"),
            ("finance_alert_identifiers", "kind, value, role"),
            ("finance_alerts", "sender_id, rules_fired"),
        ):
            for row in s.execute(text(f"SELECT {cols} FROM {table}")):  # noqa: S608 - fixed names
                flat = " ".join(str(x) for x in row).lower()
                assert "reyes" not in flat and "walker" not in flat, (table, row)


def test_a_name_index_is_listed_on_no_page(
    client: TestClient, db: Database, platform: accounts.PlatformCredentials, ana: object
) -> None:
    named = _report(client, platform, "r1", "0917 555 0101", "REYES, María")
    _report(client, platform, "r2", "0917 555 0101", "Jo Santos")
    index = db.keyring.name_index("Maria Reyes")
    assert index is not None
    with db.reader() as s:
        net = network_of_report(s, named)
    login_as(client, "ana")
    for url in (f"/reports/{named}", f"/networks/{net}", "/graph/entities/phone/%2B639175550101"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert index not in r.text and index[:16] not in r.text, url  # a hash says nothing to a reader
    api = client.get(f"/api/v1/reports/{named}", headers=bearer(accounts.create_token(db, "ana")))
    assert api.status_code == 200, api.text
    assert index not in api.text and "name" not in {e["kind"] for e in api.json()["entities"]}
