"""Payment alerts in the hotline's picture: stored as rows (one per sender, replaced when re-screened),
joined to the entity graph through the identifiers they name, held by cases; the payments behind an alert
read back from the Parquet store for its timeline."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, record
from tipline.errors import NotFound
from tipline.extract import extract
from tipline.graph.models import Case, EntityNetwork, ReportNetwork
from tipline.store import Database
from tipline.store.models import BLIND_KINDS, Entity, Mention

from .models import PaymentAlert, PaymentAlertIdentifier
from .store import FinanceStore

if TYPE_CHECKING:  # the screen module loads Ibis; pages and referrals need none of it
    from .screen import Alert, ScreenResult

STATUSES = ("new", "reviewed", "dismissed")


@dataclass
class AlertRow:
    id: int
    sender_id: str
    sender_name: str
    score: float
    rules_fired: list[str]
    status: str
    case_id: int | None
    updated_at: datetime


@dataclass
class LinkedReport:
    kind: str
    value: str | None  # None for a keyed blind index (kind ``name``): it says nothing to a reader
    role: str
    report_id: int
    network_id: int | None


@dataclass
class AlertView:
    row: AlertRow
    evidence: dict[str, Any]
    identifiers: list[tuple[str, str, str]] = field(default_factory=list)
    reports: list[LinkedReport] = field(default_factory=list)


def identifiers_of(
    alert: Alert, name_index: Callable[[str | None], str | None] | None = None
) -> list[tuple[str, str, str]]:
    """``(kind, value, role)``: the account ids as they are, and every identifier tipline's extraction
    finds in them and in the references (phones of mobile wallets, PayPal e-mails, IBANs, crypto wallets);
    with ``name_index`` (the keyring's), the sender's and beneficiaries' names as their keyed blind index
    (kind ``name``, the same values a report's persons get): never the names themselves."""
    out: set[tuple[str, str, str]] = {("payment_account", alert.sender_id, "sender")}
    texts = [(alert.sender_id, "sender")]
    names = [(alert.sender_name, "sender")]
    for b in alert.beneficiaries:
        out.add(("payment_account", b.beneficiary_id, "beneficiary"))
        texts.append((b.beneficiary_id.replace(":", " "), "beneficiary"))
        names.append((b.name, "beneficiary"))
    if name_index is not None:
        for name, role in names:
            index = name_index(name)
            if index is not None:
                out.add(("name", index, role))
    texts += [(r, "reference") for r in alert.references]
    for text, role in texts:
        for f in extract(text):
            out.add((f.kind, f.value, role))
    return sorted(out)


def save_alerts(db: Database, result: ScreenResult, actor: Principal | str = "cli") -> tuple[int, int]:
    """Store a screen's alerts: one row per sender, replaced when the sender is screened again; a sender
    screened again without an alert loses its alert unless someone reviewed it. Returns (stored, removed)."""
    by_sender = {a.sender_id: a for a in result.alerts}
    now = datetime.now(UTC)
    removed = 0
    with db.session() as s:
        existing = (
            {
                a.sender_id: a
                for a in s.scalars(select(PaymentAlert).where(PaymentAlert.sender_id.in_(result.screened_ids)))
            }
            if result.screened_ids
            else {}
        )
        for sid, old in existing.items():
            if sid not in by_sender and old.status == "new":
                s.delete(old)
                removed += 1
        for sid, a in by_sender.items():
            evidence = a.to_json(sql=True)
            row = existing.get(sid) or PaymentAlert(sender_id=sid, status="new", created_at=now)
            s.add(row)
            row.sender_name = a.sender_name
            row.score = a.score
            row.rules_fired = ",".join(r.id for r in a.fired())[:512]
            row.evidence = evidence
            row.window_end = a.window_end
            row.updated_at = now
            s.flush()
            s.execute(delete(PaymentAlertIdentifier).where(PaymentAlertIdentifier.alert_id == row.id))
            for kind, value, role in identifiers_of(a, db.keyring.name_index):
                s.add(PaymentAlertIdentifier(alert_id=row.id, kind=kind, value=value[:512], role=role))
        record(s, actor, "finance.alerts.save", "finance_alerts", None, stored=len(by_sender), removed=removed)
    return len(by_sender), removed


def _row(a: PaymentAlert) -> AlertRow:
    return AlertRow(
        id=a.id,
        sender_id=a.sender_id,
        sender_name=a.sender_name or "",
        score=a.score,
        rules_fired=[x for x in a.rules_fired.split(",") if x],
        status=a.status,
        case_id=a.case_id,
        updated_at=a.updated_at,
    )


def _seen(s: Session, viewer: Principal | str | None, rows: list[AlertRow], **where: Any) -> list[AlertRow]:
    """Audit a list of alerts someone saw (they name senders): which alerts, and where they were listed."""
    if viewer is not None and rows:
        record(s, viewer, "finance.alerts.list", "finance_alert", None, ids=[r.id for r in rows][:200], **where)
    return rows


def list_alerts(
    db: Database, status: str | None = None, *, limit: int = 500, viewer: Principal | str | None = None
) -> list[AlertRow]:
    """Alerts, highest score first; with ``viewer``, the listing is audited like a report view."""
    with db.session() as s:
        q = select(PaymentAlert).order_by(PaymentAlert.score.desc(), PaymentAlert.id).limit(limit)
        if status:
            q = q.where(PaymentAlert.status == status)
        return _seen(s, viewer, [_row(a) for a in s.scalars(q)], status=status)


def _get(s: Session, alert_id: int) -> PaymentAlert:
    a = s.get(PaymentAlert, alert_id)
    if a is None:
        raise NotFound(f"no payment alert {alert_id}")
    return a


def get_alert(db: Database, alert_id: int, *, viewer: Principal | str | None = None) -> AlertView:
    """One alert with its evidence and the reports naming its identifiers; with ``viewer``, audited."""
    with db.session() as s:
        a = _get(s, alert_id)
        if viewer is not None:
            record(s, viewer, "finance.alert.view", "finance_alert", alert_id)
        view = AlertView(row=_row(a), evidence=dict(a.evidence))
        idents = list(
            s.execute(
                select(PaymentAlertIdentifier.kind, PaymentAlertIdentifier.value, PaymentAlertIdentifier.role).where(
                    PaymentAlertIdentifier.alert_id == alert_id
                )
            )
        )
        # a name's keyed blind index is never shown: the kind and role say that the names match
        view.identifiers = sorted((k, v, r) for k, v, r in idents if k not in BLIND_KINDS)
        view.identifiers += sorted({(k, "", r) for k, v, r in idents if k in BLIND_KINDS})
        q = (
            select(Entity.kind, Entity.value, PaymentAlertIdentifier.role, Mention.report_id, ReportNetwork.network_id)
            .join(
                PaymentAlertIdentifier,
                (PaymentAlertIdentifier.kind == Entity.kind) & (PaymentAlertIdentifier.value == Entity.value),
            )
            .join(Mention, Mention.entity_id == Entity.id)
            .outerjoin(ReportNetwork, ReportNetwork.report_id == Mention.report_id)
            .where(PaymentAlertIdentifier.alert_id == alert_id)
            .distinct()
            .order_by(Mention.report_id)
        )
        rows = [(k, None if k in BLIND_KINDS else v, role, rid, net) for k, v, role, rid, net in s.execute(q)]
        view.reports = [LinkedReport(*r) for r in dict.fromkeys(rows)]  # two names of one report: one line
        return view


def _alerts_where(db: Database, entity_ids: Any, viewer: Principal | str | None, **where: Any) -> list[AlertRow]:
    with db.session() as s:
        q = (
            select(PaymentAlert)
            .join(PaymentAlertIdentifier, PaymentAlertIdentifier.alert_id == PaymentAlert.id)
            .join(Entity, (Entity.kind == PaymentAlertIdentifier.kind) & (Entity.value == PaymentAlertIdentifier.value))
            .where(Entity.id.in_(entity_ids))
            .distinct()
            .order_by(PaymentAlert.score.desc(), PaymentAlert.id)
        )
        return _seen(s, viewer, [_row(a) for a in s.scalars(q)], **where)


def alerts_for_report(db: Database, report_id: int, *, viewer: Principal | str | None = None) -> list[AlertRow]:
    """Alerts naming an identifier this report mentions (a beneficiary's phone in a report, say)."""
    return _alerts_where(db, select(Mention.entity_id).where(Mention.report_id == report_id), viewer, report=report_id)


def alerts_for_network(db: Database, network_id: int, *, viewer: Principal | str | None = None) -> list[AlertRow]:
    """Alerts naming an identifier of the network, or a name (blind index) one of its reports gives."""
    named = (
        select(Mention.entity_id)
        .join(ReportNetwork, ReportNetwork.report_id == Mention.report_id)
        .join(Entity, Entity.id == Mention.entity_id)
        .where(ReportNetwork.network_id == network_id, Entity.kind == "name")
    )
    q = select(EntityNetwork.entity_id).where(EntityNetwork.network_id == network_id).union(named)
    return _alerts_where(db, q, viewer, network=network_id)


def set_status(db: Database, alert_id: int, status: str, actor: Principal) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    with db.session() as s:
        a = _get(s, alert_id)
        a.status = status
        a.updated_at = datetime.now(UTC)
        record(s, actor, "finance.alert.status", "finance_alert", alert_id, status=status)


def add_to_case(db: Database, alert_id: int, case_id: int, actor: Principal) -> None:
    with db.session() as s:
        a = _get(s, alert_id)
        if s.get(Case, case_id) is None:
            raise NotFound(f"no case {case_id}")
        a.case_id = case_id
        a.updated_at = datetime.now(UTC)
        record(s, actor, "finance.alert.case", "finance_alert", alert_id, case_id=case_id)


def alerts_of_case(db: Database, case_id: int, *, viewer: Principal | str | None = None) -> list[AlertView]:
    with db.reader() as s:
        ids = list(s.scalars(select(PaymentAlert.id).where(PaymentAlert.case_id == case_id).order_by(PaymentAlert.id)))
    return [get_alert(db, i, viewer=viewer) for i in ids]


def record_screen_output(db: Database, actor: Principal | str, sender_ids: list[str], *, how: str) -> None:
    """Audit a screen's alerts shown outside the pages (``tipline finance screen`` prints senders' names):
    how many, in which form, and the senders' account ids (no names)."""
    if not sender_ids:
        return
    with db.session() as s:
        record(
            s,
            actor,
            "finance.screen.output",
            "finance_alert",
            None,
            alerts=len(sender_ids),
            how=how,
            senders=sender_ids[:200],
        )


def payments_of(store: FinanceStore, sender_id: str, *, limit: int = 5000) -> list[dict[str, Any]]:
    """The sender's payments (oldest first) from the Parquet store, for the alert's timeline."""
    if not store.has_payments():
        return []
    con = duckdb.connect()
    try:
        rel = con.execute(
            "SELECT epoch_s, ts, amount, currency, beneficiary_id, beneficiary_country, channel, local_hour "
            "FROM read_parquet(?) WHERE sender_id = ? ORDER BY epoch_s, txn_id LIMIT ?",
            [store.glob, sender_id, limit],
        )
        cols = [d[0] for d in rel.description or []]
        return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
    finally:
        con.close()


def alert_json(v: AlertView) -> dict[str, Any]:
    d = asdict(v.row)
    d["updated_at"] = v.row.updated_at.isoformat()
    return d | {"evidence": v.evidence, "reports": [asdict(r) for r in v.reports]}


CSV_COLUMNS = ("alert_id", "sender_id", "sender_name", "score", "rule", "value", "threshold", "window_days", "source",
               "beneficiaries", "sql")  # fmt: skip


def alerts_csv(views: list[AlertView]) -> str:
    """Alerts for an FIU: one line per fired rule (value, threshold, window, source) with the alert's sender,
    score and beneficiaries; the SQL the rule compiled to in the last column."""
    return alerts_csv_from_json([alert_json(v) for v in views])


def alerts_csv_from_json(alerts: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for a in alerts:
        ev = a["evidence"]
        bens = [
            {k: b[k] for k in ("beneficiary_id", "name", "country", "payments")} for b in ev.get("beneficiaries", [])
        ]
        for r in ev.get("rules", []):
            if r.get("fired"):
                head = [a["id"], a["sender_id"], a["sender_name"], a["score"], r["id"], r["value"], r["threshold"]]
                tail = [r["window_days"], r["source"], json.dumps(bens, ensure_ascii=False), r.get("sql", "")]
                w.writerow(head + tail)
    return buf.getvalue()


def referral_alerts(db: Database, case_id: int) -> list[dict[str, Any]]:
    """A case's alerts as the referral package carries them (``payment-alerts/``)."""
    return [alert_json(v) for v in alerts_of_case(db, case_id)]
