"""``tipline agencies``, ``refer``, ``jurisdiction`` and ``takedown``, run as a real process on a data folder."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from helpers import run

DATA = Path(__file__).parent / "data" / "cybertip"


@pytest.mark.slow
def test_agencies_refer_jurisdiction_takedown(tmp_path):
    data = tmp_path / "data"
    agencies = json.loads(run(["agencies", "--json"], data).stdout)
    by_id = {a["id"]: a for a in agencies}
    assert by_id["ph-picacc"]["countries"] == ["PH"] and by_id["int-interpol"]["countries"] == ["*"]
    assert all(a["sources"] for a in agencies)  # every fact has its sources
    assert by_id["us-ncmec"]["channels"]["phone"] == {
        "source": "https://www.missingkids.org",
        "as_of": "2024-06-01",
        "by": "seed",
    }
    listing = run(["agencies", "--country", "PH"], data).stdout
    assert "PICACC" in listing and "as of 2024-06-01" in listing and "verified before use" in listing

    out = json.loads(run(["import", "cybertip", str(DATA / "rich_report.xml"), "--json"], data).stdout.splitlines()[0])
    rid = out["report_id"]
    cands = json.loads(run(["jurisdiction", str(rid), "--json"], data).stdout)
    assert cands[0]["country"] == "PH"

    pkg = tmp_path / "out" / "ref.zip"
    p = run(["refer", str(rid), "--to", "us-ncmec", "--format", "cybertip", "--out", str(pkg), "--json"], data)
    rec = json.loads(p.stdout)
    digest = hashlib.sha256(pkg.read_bytes()).hexdigest()
    assert rec["digest"] == digest and rec["agency_id"] == "us-ncmec" and rec["format"] == "cybertip"
    assert (tmp_path / "out" / "ref.zip.sha256").read_text() == f"{digest}  ref.zip\n"
    assert f"cybertip/report-{rid}.xml" in zipfile.ZipFile(pkg).namelist()

    bad = run(["refer", "case:999", "--to", "us-ncmec", "--out", str(tmp_path / "x.zip")], data, check=False)
    assert bad.returncode == 1 and "no case 999" in bad.stderr
    bad = run(["refer", str(rid), "--to", "nowhere", "--out", str(tmp_path / "x.zip")], data, check=False)
    assert bad.returncode == 1 and "no agency" in bad.stderr
    bad = run(["refer", "abc", "--to", "us-ncmec", "--out", str(tmp_path / "x.zip")], data, check=False)
    assert bad.returncode == 1

    urls = json.loads(run(["takedown", "list", "--json"], data).stdout)
    assert {u["url"] for u in urls["items"]} == {
        "https://ads.example.com/listing/48213",
        "https://ads.example.com/listing/48214",
        "https://live.example.com/u/host_ops",  # the reported account's profile page
    }
    tid = next(u["id"] for u in urls["items"] if u["url"].endswith("48213"))
    run(["takedown", "set", str(tid), "notice_sent", "--agency", "us-ncmec"], data)
    assert "removed" in run(["takedown", "set", str(tid), "removed"], data).stdout
    bad = run(["takedown", "set", str(tid), "assessed"], data, check=False)
    assert bad.returncode == 1 and "can go to" in bad.stderr
    listed = run(["takedown", "list", "--state", "removed"], data).stdout
    assert "hxxps://" in listed and "https://" not in listed  # defanged on the terminal
