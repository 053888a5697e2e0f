"""The media issue end to end, through the real app on SQLite and PostgreSQL: a supervisor loads a hash bank
on its page; a platform uploads a generated image whose JPEG-q50 copy is in the bank; the report shows the
match (bank, distance) and rises in the queue; the panic button answers with a frame match."""

from __future__ import annotations

import numpy as np

from helpers import PASSWORD, XML, answer, basic, bearer, css, full_token, login_as, page, text_of
from tipline.accounts import service as accounts
from tipline.media.hashing import hash_bytes, pdq_hamming
from tipline.media.matching import report_matches
from tipline.media.models import LABEL_ABUSE
from tipline.synth.images import media_set

MINIMAL_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<report>
  <incidentSummary>
    <incidentType>Child Pornography (possession, manufacture, and distribution)</incidentType>
    <incidentDateTime>2025-02-03T04:05:06Z</incidentDateTime>
  </incidentSummary>
  <reporter><reportingPerson><email>trust-safety@esp.example.com</email></reportingPerson></reporter>
</report>"""


def cybertip_report(client, creds, data: bytes) -> int:  # type: ignore[no-untyped-def]
    """A platform's NCMEC client: submit, upload the file, finish."""
    rid = int(answer(client.post("/ispws/submit", content=MINIMAL_XML, headers=XML, auth=basic(creds)))["reportId"])
    up = client.post(
        "/ispws/upload", data={"id": str(rid)}, files={"file": ("upload.jpg", data, "image/jpeg")}, auth=basic(creds)
    )
    assert answer(up)["responseCode"] == 0
    assert answer(client.post("/ispws/finish", data={"id": str(rid)}, auth=basic(creds)))["responseCode"] == 0
    return rid


def flip(h: str, n: int) -> str:
    v = int(h, 16)
    for b in np.random.default_rng(n).choice(256, size=n, replace=False):
        v ^= 1 << int(b)
    return f"{v:064x}"


def test_upload_matches_a_bank_rises_in_the_queue_and_the_panic_button_answers(client, db, platform):
    media = {m.id: m for m in media_set(9, n_images=2, transforms=("jpeg50",))}
    original, copy, unrelated = media["img-9-0000"], media["img-9-0000~jpeg50"], media["img-9-0001"]
    bank_pdq = hash_bytes(copy.data).pdq
    assert bank_pdq is not None

    # a supervisor creates the bank and imports the JPEG-q50 copy's PDQ on the bank pages
    accounts.create_user(db, "sam", "supervisor", PASSWORD)
    login_as(client, "sam")
    csrf = css(page(client.get("/banks")), "form[action='/banks'] input[name=csrf_token]")[0].get("value")
    r = client.post(
        "/banks",
        data={"name": "Known (synthetic)", "source": "test", "default_label": LABEL_ABUSE, "csrf_token": csrf},
        follow_redirects=False,
    )
    bank_path = r.headers["location"].split("?")[0]
    r = client.post(
        f"{bank_path}/import",
        data={"csrf_token": csrf},
        files={"file": ("bank.csv", f"kind,hash\npdq,{bank_pdq}\n".encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    staff = full_token(db, "sam")

    # the platform reports twice through its CyberTipline client: first an unrelated picture, then the original
    first = cybertip_report(client, platform, unrelated.data)
    second = cybertip_report(client, platform, original.data)

    got = client.get(f"/api/v1/reports/{second}/matches", headers=bearer(staff)).json()["matches"]
    (m,) = got
    assert (m["bank"], m["label"], m["kind"]) == ("Known (synthetic)", LABEL_ABUSE, "pdq")
    assert m["distance"] == pdq_hamming(hash_bytes(original.data).pdq, bank_pdq) <= 31
    assert client.get(f"/api/v1/reports/{first}/matches", headers=bearer(staff)).json()["matches"] == []

    queue = client.get("/api/v1/queue", headers=bearer(staff)).json()["items"]
    order = [i["id"] for i in queue]
    assert order.index(second) < order.index(first)  # newer, but above: it matched known abuse material
    item = queue[order.index(second)]
    assert item["priority"] <= 2 and "A file matches a hash bank of known abuse material" in item["reasons"]
    report = client.get(f"/api/v1/reports/{second}", headers=bearer(staff)).json()
    assert any(x["rule"] == "known-abuse-hash" and x["detail"] == LABEL_ABUSE for x in report["reasons"])

    # the whole staff report page, through the app, as the logged-in supervisor sees it
    r = client.get(f"/reports/{second}")
    assert r.status_code == 200, r.text
    doc = page(r)
    (row,) = css(doc, "section#hash-matches table.hash-matches tbody tr")
    assert row.get("data-bank") == "Known (synthetic)" and row.get("data-label") == LABEL_ABUSE
    assert row.get("data-kind") == "pdq" and row.get("data-distance") == str(m["distance"])
    assert "No file of this report is in an enabled hash bank." not in r.text
    doc = page(client.get(f"/reports/{first}"))
    assert css(doc, "section#hash-matches table.hash-matches") == []
    assert "No file of this report is in an enabled hash bank." in text_of(css(doc, "section#hash-matches")[0])

    # the panic button: one frame near the bank entry, one unrelated
    near = flip(bank_pdq, 6)
    body = {
        "stream_id": "s-1",
        "broadcaster": {"account": "room_1"},
        "frame_hashes": [
            {"kind": "pdq", "hash": flip(bank_pdq, 120), "offset_ms": 1000},
            {"kind": "pdq", "hash": near, "offset_ms": 4000},
        ],
    }
    r = client.post("/api/v1/live", json=body, headers=bearer(platform.api_key))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["priority"] == 1
    assert out["matches"] == [
        {
            "bank": "Known (synthetic)",
            "label": LABEL_ABUSE,
            "kind": "pdq",
            "distance": 6,
            "frame_offset_ms": 4000,
            "frame_hash": near,
        }
    ]
    live = out["id"]
    (rec,) = client.get(f"/api/v1/reports/{live}/matches", headers=bearer(staff)).json()["matches"]
    assert rec["details"]["frame_offset_ms"] == 4000 and rec["details"]["origin"] == "frame"
    report = client.get(f"/api/v1/reports/{live}", headers=bearer(staff)).json()
    assert report["priority"] == 1 and any(x["rule"] == "known-abuse-hash" for x in report["reasons"])
    again = client.post("/api/v1/live", json=body, headers=bearer(platform.api_key))  # a second press
    assert again.status_code == 200 and again.json()["matches"] == out["matches"]

    # the supervisor disables the bank: the next stream's frame no longer matches
    client.post(f"{bank_path}/enabled", data={"enabled": "0", "csrf_token": csrf})
    body["stream_id"] = "s-2"
    r = client.post("/api/v1/live", json=body, headers=bearer(platform.api_key))
    assert r.status_code == 201 and r.json()["matches"] == []


def test_a_file_uploaded_to_a_filed_report_lifts_it_in_the_queue(client, db, platform):
    """The JSON door: the report is filed first, then the picture is uploaded into it; the upload re-analyses
    the report, which matches the bank and moves above an older report of the same kind."""
    from tipline.media import banks

    media = {m.id: m for m in media_set(13, n_images=1, transforms=("jpeg50",))}
    banks.create_bank(db, "Known", default_label=LABEL_ABUSE)
    banks.import_entries(db, "Known", [banks.make_entry("pdq", hash_bytes(media["img-13-0000~jpeg50"].data).pdq)])
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    staff = accounts.create_token(db, "ana")
    key = bearer(platform.api_key)

    def file_report(rid: str) -> int:
        body = {"report_id": rid, "category": "child_sexual_abuse_material", "text": "Shared in a group."}
        r = client.post("/api/v1/reports", json=body, headers=key)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def queue() -> list[int]:
        return [i["id"] for i in client.get("/api/v1/queue", headers=bearer(staff)).json()["items"]]

    older, newer = file_report("r-1"), file_report("r-2")
    assert queue().index(older) < queue().index(newer)
    r = client.post(
        f"/api/v1/reports/{newer}/files",
        files={"file": ("x.jpg", media["img-13-0000"].data, "image/jpeg")},
        headers=key,
    )
    assert r.status_code == 201, r.text
    assert queue().index(newer) < queue().index(older)  # it rose
    (m,) = client.get(f"/api/v1/reports/{newer}/matches", headers=bearer(staff)).json()["matches"]
    assert (m["bank"], m["kind"], m["label"]) == ("Known", "pdq", LABEL_ABUSE) and m["distance"] <= 31
    item = client.get(f"/api/v1/reports/{newer}", headers=bearer(staff)).json()
    assert item["priority"] <= 2 and any(x["rule"] == "known-abuse-hash" for x in item["reasons"])


def test_an_uploaded_mirrored_copy_matches_through_its_dihedral_hashes(client, db, platform):
    """The bank holds the original; the platform uploads a mirrored copy (128 bits away in plain PDQ)."""
    from tipline.media import banks

    media = {m.id: m for m in media_set(17, n_images=1, transforms=("mirror",))}
    original, mirrored = media["img-17-0000"].data, media["img-17-0000~mirror"].data
    assert pdq_hamming(hash_bytes(original).pdq, hash_bytes(mirrored).pdq) > 31
    banks.create_bank(db, "Known", default_label=LABEL_ABUSE)
    banks.import_entries(db, "Known", [banks.make_entry("pdq", hash_bytes(original).pdq)])
    key = bearer(platform.api_key)
    body = {"report_id": "m-1", "category": "child_sexual_abuse_material", "text": "Shared in a group."}
    rid = client.post("/api/v1/reports", json=body, headers=key).json()["id"]
    r = client.post(f"/api/v1/reports/{rid}/files", files={"file": ("m.jpg", mirrored, "image/jpeg")}, headers=key)
    assert r.status_code == 201, r.text
    (m,) = report_matches(db, rid)
    assert m["bank"] == "Known" and m["distance"] <= 31


def test_panic_button_without_inline_analysis_matches_in_memory(tmp_path, platform, db):
    """With analysis deferred (``analyse_inline`` off) the answer still carries the matches, from the index."""
    from fastapi.testclient import TestClient

    from tipline.media import banks
    from tipline.web.app import create_app

    p = hash_bytes(media_set(3, n_images=1, transforms=())[0].data).pdq
    banks.create_bank(db, "Known", default_label=LABEL_ABUSE)
    banks.import_entries(db, "Known", [banks.make_entry("pdq", p)])
    db.settings = db.settings.model_copy(update={"analyse_inline": False})
    with TestClient(create_app(db.settings, db=db)) as c:
        body = {"stream_id": "s", "broadcaster": {"account": "a"}, "frame_hashes": [{"hash": p, "offset_ms": 0}]}
        r = c.post("/api/v1/live", json=body, headers=bearer(platform.api_key))
    assert r.status_code == 201
    assert [(m["bank"], m["distance"], m["frame_offset_ms"]) for m in r.json()["matches"]] == [("Known", 0, 0)]
