"""ISO 20022 customer credit transfers (``pacs.008`` FI-to-FI, ``pain.001`` customer initiation) mapped to
the payment columns of :mod:`tipline.finance.importer`.

Streamed with ``lxml.etree.iterparse`` (a file of millions of transfers never sits in memory whole), each
transfer element cleared once read. Hardened as ``defusedxml`` recommends and as ``tipline.cybertip``
parses: no entity resolution, no network, no DTD loading, no huge-tree mode, and any ``<!DOCTYPE`` in the
prolog refused before the parser starts (``defusedxml.lxml`` itself is deprecated and warns on import).

Mapping (namespaces ignored, so every version of the message reads the same):

=====================  ======================================================================================
column                 pacs.008 ``CdtTrfTxInf`` / pain.001 ``PmtInf`` + ``CdtTrfTxInf``
=====================  ======================================================================================
txn_id                 ``PmtId/TxId``, else ``PmtId/UETR``, else ``PmtId/EndToEndId``
ts                     ``AccptncDtTm``, else the group header's ``CreDtTm`` (pain.001: ``ReqdExctnDt/DtTm``,
                       else ``CreDtTm``); it must carry a UTC offset
sender_*               ``Dbtr/Nm``, ``DbtrAcct/Id/IBAN`` (or ``Othr/Id``), ``Dbtr/PstlAdr/Ctry``, else the
                       IBAN's country
amount, currency       ``IntrBkSttlmAmt`` (pacs.008) or ``Amt/InstdAmt`` (pain.001) and its ``Ccy``
beneficiary_*          ``Cdtr/Nm``, ``CdtrAcct/Id/IBAN`` (or ``Othr/Id``), ``Cdtr/PstlAdr/Ctry``, else the IBAN's
reference              ``RmtInf/Ustrd`` (joined) or ``RmtInf/Strd/CdtrRefInf/Ref``
channel                ``bank_transfer``
=====================  ======================================================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


class Iso20022Error(ValueError):
    """The file is not an ISO 20022 credit-transfer message tipline can read (says why and where)."""


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _find(el: etree._Element | None, path: str) -> etree._Element | None:
    """``a/b/c`` by local names, whatever the namespace."""
    for step in path.split("/"):
        if el is None:
            return None
        el = next((c for c in el if _local(c.tag) == step), None)
    return el


def _text(el: etree._Element | None, path: str) -> str:
    found = _find(el, path)
    return (found.text or "").strip() if found is not None else ""


def _account(el: etree._Element | None, acct: str) -> str:
    return _text(el, f"{acct}/Id/IBAN") or _text(el, f"{acct}/Id/Othr/Id")


def _country(party: etree._Element | None, account: str) -> str:
    c = _text(party, "PstlAdr/Ctry")
    if not c and re.fullmatch(r"[A-Z]{2}\d\d[A-Z0-9]{8,30}", account):
        c = account[:2]
    return c


def _reference(tx: etree._Element) -> str:
    rmt = _find(tx, "RmtInf")
    if rmt is None:
        return ""
    parts = [(c.text or "").strip() for c in rmt if _local(c.tag) == "Ustrd"]
    return " ".join(p for p in parts if p) or _text(rmt, "Strd/CdtrRefInf/Ref")


def _txn_id(tx: etree._Element) -> str:
    return _text(tx, "PmtId/TxId") or _text(tx, "PmtId/UETR") or _text(tx, "PmtId/EndToEndId")


def _row(tx: etree._Element, debtor_scope: etree._Element | None, ts: str, amount_path: str) -> dict[str, str]:
    amt = _find(tx, amount_path)
    dbtr_acct = _account(debtor_scope, "DbtrAcct")
    cdtr_acct = _account(tx, "CdtrAcct")
    return {
        "txn_id": _txn_id(tx),
        "ts": ts,
        "sender_id": dbtr_acct,
        "sender_name": _text(debtor_scope, "Dbtr/Nm"),
        "sender_country": _country(_find(debtor_scope, "Dbtr"), dbtr_acct),
        "amount": (amt.text or "").strip() if amt is not None else "",
        "currency": amt.get("Ccy", "") if amt is not None else "",
        "beneficiary_id": cdtr_acct,
        "beneficiary_name": _text(tx, "Cdtr/Nm"),
        "beneficiary_country": _country(_find(tx, "Cdtr"), cdtr_acct),
        "channel": "bank_transfer",
        "reference": _reference(tx),
    }


def _refuse_doctype(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(65536)
    root_at = re.search(rb"<[A-Za-z_]", head)
    prolog = head[: root_at.start()] if root_at else head
    if _DOCTYPE.search(prolog):
        raise Iso20022Error(
            f"{path.name}: has a DOCTYPE declaration, which is not accepted (ISO 20022 messages have no DTD, "
            "and a DTD can declare entities); remove it and import again"
        )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _control_character(path: Path) -> tuple[int, int, str] | None:
    """(line, column, character) of the file's first C0 control character that XML 1.0 refuses, or None;
    read as bytes, a chunk at a time (only when the parser failed: the file is not well-formed anyway)."""
    line, line_start, offset = 1, 0, 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            text = chunk.decode("latin-1")  # byte for byte: the columns count bytes, like the line numbers
            m = _CONTROL.search(text)
            end = m.start() if m else len(text)
            newlines = text.count("\n", 0, end)
            if newlines:
                line += newlines
                line_start = offset + text.rfind("\n", 0, end) + 1
            if m:
                return line, offset + m.start() - line_start + 1, m.group()
            offset += len(text)
    return None


def iter_transfers(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, row)`` for every credit transfer in a pacs.008 or pain.001 file."""
    _refuse_doctype(path)
    kind = ""
    group_ts = ""
    pmtinf: etree._Element | None = None
    pmtinf_ts = ""
    context = etree.iterparse(
        str(path),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        for event, el in context:
            name = _local(el.tag)
            if event == "start":
                if name in ("FIToFICstmrCdtTrf", "CstmrCdtTrfInitn"):
                    kind = name
                elif name == "PmtInf":
                    pmtinf = el
                continue
            if name == "GrpHdr":
                group_ts = _text(el, "CreDtTm")
            elif name == "ReqdExctnDt" and pmtinf is not None:
                pmtinf_ts = _text(el, "DtTm") or (el.text or "").strip()
            elif name == "CdtTrfTxInf":
                if kind == "FIToFICstmrCdtTrf":
                    ts = _text(el, "AccptncDtTm") or group_ts
                    yield el.sourceline or 0, _row(el, el, ts, "IntrBkSttlmAmt")
                elif kind == "CstmrCdtTrfInitn":
                    ts = pmtinf_ts if "T" in pmtinf_ts else group_ts
                    yield el.sourceline or 0, _row(el, pmtinf, ts, "Amt/InstdAmt")
                else:
                    raise Iso20022Error(
                        f"{path.name}: line {el.sourceline}: a CdtTrfTxInf outside FIToFICstmrCdtTrf (pacs.008) "
                        "or CstmrCdtTrfInitn (pain.001); only credit transfers are read"
                    )
                el.clear(keep_tail=True)
            elif name == "PmtInf":
                el.clear(keep_tail=True)
                pmtinf, pmtinf_ts = None, ""
    except etree.XMLSyntaxError as e:
        line = e.position[0] if e.position else e.lineno
        control = _control_character(path)
        if control is not None and control[0] <= (line or control[0]):  # libxml2 names it obliquely
            # ("CData section not finished", "PCDATA invalid Char value 1")
            line, column, char = control
            problem = f"column {column} holds a control character (U+{ord(char):04X}), which XML does not allow"
        else:
            problem = "not well-formed XML (" + _CONTROL.sub(" ", e.msg or str(e)).strip() + ")"
        raise Iso20022Error(
            f"{path.name}: line {line}: {problem}; nothing from this file was imported: fix the file and "
            "import it again"
        ) from None
    if not kind:
        raise Iso20022Error(
            f"{path.name}: no FIToFICstmrCdtTrf (pacs.008) or CstmrCdtTrfInitn (pain.001) element; "
            "export ISO 20022 customer credit transfers, or a CSV/Parquet file with the payment columns"
        )
