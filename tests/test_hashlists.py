"""Hash lists as the field ships them: a fixture folder written here (synthetic hashes) in every format,
each detected and imported through the bank service; exports read back by python-threatexchange's own
parsers (signal types, the NCMEC hash-sharing client's XML reader) and by our importer."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from helpers import run
from tipline.media import banks, hashlists

MD5 = [hashlib.md5(f"synthetic {i}".encode()).hexdigest() for i in range(4)]
SHA1 = [hashlib.sha1(f"synthetic {i}".encode()).hexdigest() for i in range(3)]
SHA256 = [hashlib.sha256(f"synthetic {i}".encode()).hexdigest() for i in range(2)]
PDQ = [hashlib.sha256(f"pdq {i}".encode()).hexdigest() for i in range(3)]


def write_fixtures(folder: Path) -> dict[str, tuple[str, dict[str, int]]]:
    """file name -> (format, expected entries by kind)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[bytes, str, dict[str, int]]] = {
        "te_signals.txt": (
            "".join(f"pdq {h} collab-1 \n" for h in PDQ).encode()
            + f"video_md5 {MD5[0]}\nurl https://x.example/\n".encode(),
            "te-signals",
            {"pdq": 3, "md5": 1},
        ),
        "te_dataset.csv": (
            (
                "signal_type,signal_str,collab,category,tags\n"
                + "".join(f"pdq,{h},Sample Data,ADULT,tag1 tag2\n" for h in PDQ[:2])
                + f"video_sha256,{SHA256[0]},Sample Data,,\n"
            ).encode(),
            "te-csv",
            {"pdq": 2, "sha256": 1},
        ),
        "md5_plain.txt": ("".join(f"{h}\n" for h in MD5).encode(), "plain", {"md5": 4}),
        "md5_header_upper_crlf.txt": (
            ("MD5\r\n" + "".join(f"{h.upper()}\r\n" for h in MD5)).encode(),
            "plain",
            {"md5": 4},
        ),
        "sha1_bom.txt": ("\ufeff" + "".join(f"{h}\n" for h in SHA1)).encode(),
        "columns.csv": (
            (
                "File Name,Size,MD5 Hash,SHA-1,Notes\r\n"
                + "".join(f'img{i}.jpg,100,{MD5[i].upper()},{SHA1[i]},"a, note"\r\n' for i in range(3))
            ).encode(),
            "columns",
            {"md5": 3, "sha1": 3},
        ),
        "ncmec.xml": (
            (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">'
                '<images maxTimestamp="2026-10-01T00:00:00Z">'
                f'<image><id>1</id><member id="42">ESP</member><classification>A1</classification>'
                f"<fingerprints><md5>{MD5[0].upper()}</md5><sha1>{SHA1[0]}</sha1><pdq>{PDQ[0]}</pdq>"
                "<pdna>AAAA</pdna></fingerprints></image>"
                f'<deletedImage><id>2</id><member id="42">ESP</member><fingerprints><md5>{MD5[1]}</md5>'
                "</fingerprints></deletedImage></images>"
                '<videos maxTimestamp="2026-10-01T00:00:00Z"><video><id>3</id><member id="42">ESP</member>'
                f"<fingerprints><md5>{MD5[2]}</md5></fingerprints></video></videos></queryResult>"
            ).encode(),
            "ncmec-xml",
            {"md5": 2, "sha1": 1, "pdq": 1},
        ),
        "tipline.csv": (
            f"kind,hash,label\npdq,{PDQ[0]},known\nmd5,{MD5[3]},\n".encode(),
            "tipline",
            {"pdq": 1, "md5": 1},
        ),
    }
    files["sha1_bom.txt"] = (files["sha1_bom.txt"], "plain", {"sha1": 3})  # type: ignore[assignment]
    out = {}
    for name, (data, fmt, kinds) in files.items():
        (folder / name).write_bytes(data)
        out[name] = (fmt, kinds)
    return out


@pytest.fixture
def fixtures(tmp_path: Path) -> tuple[Path, dict[str, tuple[str, dict[str, int]]]]:
    folder = tmp_path / "hashlists"
    return folder, write_fixtures(folder)


def test_every_format_is_detected_and_imported(sqlite_db, fixtures) -> None:  # type: ignore[no-untyped-def]
    folder, expected = fixtures
    for name, (fmt, kinds) in expected.items():
        data = (folder / name).read_bytes()
        assert hashlists.detect(data, name) == fmt, name
        bank = name.replace(".", "_")
        banks.create_bank(sqlite_db, bank, source=f"fixture {name}")
        result = hashlists.import_list(sqlite_db, bank, data, filename=name)
        assert result.by_kind == kinds and result.added == sum(kinds.values()), (name, result)
        if fmt != "tipline":  # provenance per list: every entry names its list
            exported = banks.export_text(sqlite_db, bank, fmt="jsonl")
            notes = [json.loads(x).get("note", "") for x in exported.splitlines() if x.startswith("{")]
            assert notes and all(name in n or "NCMEC" in n or "collab" in n for n in notes), (name, notes)


def test_a_bad_line_refuses_the_list_and_says_which(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    banks.create_bank(sqlite_db, "b")
    data = f"{MD5[0]}\n{'z' * 32}\n{'a' * 64}\n".encode()
    with pytest.raises(banks.BankImportError) as e:
        hashlists.import_list(sqlite_db, "b", data, filename="mixed.txt")
    problems = dict(e.value.errors)
    assert "hexadecimal" in problems[2] and "--kind" in problems[3]
    assert banks.get_bank(sqlite_db, "b").total == 0
    # the same 64-digit list with its kind named
    ok = hashlists.import_list(sqlite_db, "b", "".join(f"{h}\n" for h in PDQ).encode(), kind="pdq", fmt="plain")
    assert ok.by_kind == {"pdq": 3}


def test_dry_run_and_cli_import(tmp_path, fixtures) -> None:  # type: ignore[no-untyped-def]
    folder, _ = fixtures
    data_dir = tmp_path / "data"
    p = run(["banks", "import-list", "te", str(folder / "te_signals.txt"), "--dry-run", "--json"], data_dir)
    preview = json.loads(p.stdout)
    assert preview["format"] == "te-signals" and preview["by_kind"] == {"pdq": 3, "md5": 1}
    assert preview["skipped"] and "url" in preview["skipped"][0]
    p = run(["banks", "list", "--json"], data_dir)
    assert json.loads(p.stdout) == []  # a dry run stores nothing
    p = run(["banks", "import-list", "te", str(folder / "ncmec.xml"), "--json"], data_dir)
    assert json.loads(p.stdout)["format"] == "ncmec-xml"
    p = run(["banks", "export-list", "te", "--format", "te-signals"], data_dir)
    assert p.stdout.count("\n") == 3 and "not written: sha1" in p.stderr  # SHA-1 has no TE signal type


def _bank_with_everything(db) -> str:  # type: ignore[no-untyped-def]
    banks.create_bank(db, "all")
    entries = [
        banks.make_entry(k, h) for k, hs in (("md5", MD5), ("sha1", SHA1), ("sha256", SHA256), ("pdq", PDQ)) for h in hs
    ]
    banks.import_entries(db, "all", entries)
    return "all"


def test_exports_are_read_by_python_threatexchange(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    from threatexchange.exchanges.clients.ncmec.hash_api import GetEntriesResponse, _XMLWrapper
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal
    from threatexchange.signal_type.sha256 import VideoSHA256Signal

    types = {t.get_name(): t for t in (VideoMD5Signal, PdqSignal, VideoSHA256Signal)}
    bank = _bank_with_everything(sqlite_db)
    text, left = hashlists.export_list(sqlite_db, bank, "te-signals")
    assert len(left) == len(SHA1)
    for line in text.splitlines():
        name, value = line.split()
        assert types[name].validate_signal_str(value) == value  # the signal type accepts it
    rows = list(csv.DictReader(io.StringIO(hashlists.export_list(sqlite_db, bank, "te-csv")[0])))
    assert {r["signal_type"] for r in rows} == {"video_md5", "pdq", "video_sha256"} and rows[0]["collab"] == "all"
    xml, _ = hashlists.export_list(sqlite_db, bank, "ncmec-xml")
    root = ET.fromstring(xml)
    for el in root.iter():  # as the client does: namespaces removed
        el.tag = el.tag.rpartition("}")[2]
    parsed = GetEntriesResponse.from_xml(_XMLWrapper(root), 0)
    got = {(k, v) for u in parsed.updates for k, v in u.fingerprints.items()}
    assert ("md5", MD5[0]) in got and ("pdq", PDQ[0]) in got and len(parsed.updates) == 10


@pytest.mark.parametrize("fmt", ["te-signals", "te-csv", "columns", "ncmec-xml"])
def test_exports_import_back(sqlite_db, fmt) -> None:  # type: ignore[no-untyped-def]
    bank = _bank_with_everything(sqlite_db)
    text, left = hashlists.export_list(sqlite_db, bank, fmt)
    banks.create_bank(sqlite_db, "back")
    result = hashlists.import_list(sqlite_db, "back", text.encode(), filename=f"export.{fmt}")
    carried = {"te-signals": 9, "te-csv": 9, "columns": 12, "ncmec-xml": 10}[fmt]
    assert result.added == carried and len(left) == 12 - carried


def test_plain_export_needs_a_kind_when_the_bank_has_several(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    bank = _bank_with_everything(sqlite_db)
    with pytest.raises(banks.BankError, match="--kind"):
        hashlists.export_list(sqlite_db, bank, "plain")
    text, _ = hashlists.export_list(sqlite_db, bank, "plain", kind="sha1")
    assert text.split() == sorted(SHA1, key=SHA1.index)
