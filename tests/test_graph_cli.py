"""`tipline networks`, `tipline exclusions` and `tipline cases`, run as the installed script on a real data
folder with a small synthetic world."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tipline.capabilities import open_database
from tipline.graph import cases
from tipline.settings import Settings

TIPLINE = str(Path(sys.executable).with_name("tipline"))


def run(args: list[str], data_dir: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIPLINE_DATA_DIR": str(data_dir)}
    env.pop("TIPLINE_DATABASE_URL", None)
    p = subprocess.run([TIPLINE, *args], capture_output=True, text=True, env=env, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"tipline {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("graph-cli")
    run(["demo", "--reports", "80", "--seed", "2"], data)
    return data


def test_networks_list_show_and_recompute(world: Path) -> None:
    listed = json.loads(run(["networks", "--json"], world).stdout)
    assert listed and listed[0]["reports"] >= listed[-1]["reports"] >= 2
    assert set(listed[0]) >= {"id", "reports", "entities", "countries"}
    table = run(["networks", "--limit", "3"], world).stdout
    assert str(listed[0]["id"]) in table and "countries" in table
    nid = listed[0]["id"]
    shown = json.loads(run(["networks", "show", str(nid), "--json"], world).stdout)
    assert shown["id"] == nid and shown["report_count"] == listed[0]["reports"]
    text = run(["networks", "show", str(nid)], world).stdout
    assert f"network {nid}:" in text and "identifiers that link it" in text
    assert run(["networks", "show", "999999"], world, check=False).returncode == 1
    res = run(["networks", "recompute", "--json"], world)
    figures = json.loads(res.stdout)
    assert figures["reports"] == 80 and figures["largest"] == listed[0]["reports"]
    # the incremental networks and the recomputed ones are the same
    assert json.loads(run(["networks", "--json"], world).stdout) == listed


def test_exclusions_and_cases(world: Path) -> None:
    listed = json.loads(run(["networks", "--json"], world).stdout)
    shown = json.loads(run(["networks", "show", str(listed[0]["id"]), "--json"], world).stdout)
    kind, value = shown["entities"][0]["kind"], shown["entities"][0]["value"]
    p = run(["exclusions", "add", kind, value], world, check=False)
    assert p.returncode == 1 and "say why" in p.stderr
    out = run(["exclusions", "add", kind, value, "--reason", "test entry", "--by", "sam"], world).stdout
    xid = int(out.split("#")[1].split()[0])
    entries = json.loads(run(["exclusions", "list", "--json"], world).stdout)
    mine = [x for x in entries if x["id"] == xid][0]
    assert mine["value"] == value and mine["added_by"] == "cli:sam" and mine["reason"] == "test entry"
    assert any(x["builtin"] for x in entries)
    run(["exclusions", "remove", str(xid)], world)
    assert run(["exclusions", "remove", str(xid)], world, check=False).returncode == 1
    # cases made by a service call show up in the CLI
    db = open_database(Settings(data_dir=world))
    cid = cases.create_case(db, "test", title="From the CLI test", network_id=listed[0]["id"])
    db.dispose()
    rows = json.loads(run(["cases", "list", "--json"], world).stdout)
    assert rows[0]["id"] == cid and rows[0]["reports"] == listed[0]["reports"]
    one = json.loads(run(["cases", "show", str(cid), "--json"], world).stdout)
    assert one["title"] == "From the CLI test" and one["events"][0]["kind"] == "created"
    assert "case #" in run(["cases", "show", str(cid)], world).stdout
