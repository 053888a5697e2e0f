"""The command line, run as a real process (the installed `tipline` script) on a real data folder."""

from __future__ import annotations

import json

import pytest

from helpers import run


def test_help_on_every_command(tmp_path):
    top = run(["--help"], tmp_path).stdout
    for cmd in ["serve", "demo", "users", "tokens", "keys", "import", "extract", "queue", "reanalyse", "rules"]:
        assert cmd in top
        assert run([*cmd.split(), "--help"], tmp_path).returncode == 0
    for sub in [["users", "add"], ["tokens", "create"], ["keys", "create"], ["import", "cybertip"]]:
        assert "Usage" in run([*sub, "--help"], tmp_path).stdout


def test_users_tokens_keys_json(tmp_path):
    run(["users", "add", "ana", "--role", "analyst"], tmp_path, stdin="a long enough password\n")
    token = json.loads(run(["tokens", "create", "ana", "--json"], tmp_path).stdout)["token"]
    assert token.startswith("tlt_")
    keys = json.loads(run(["keys", "create", "ExampleChat", "--json"], tmp_path).stdout)
    assert set(keys) == {"api_key", "username", "password"}
    users = json.loads(run(["users", "list", "--json"], tmp_path).stdout)
    assert users == [{"id": 1, "name": "ana", "role": "analyst"}]


def test_errors_say_what_to_do(tmp_path):
    p = run(["users", "add", "bob"], tmp_path, stdin="short\n", check=False)
    assert p.returncode == 1 and "at least 12 characters" in p.stderr
    p = run(["tokens", "create", "nobody"], tmp_path, check=False)
    assert p.returncode == 1 and "tipline users add" in p.stderr
    p = run(
        ["queue"],
        tmp_path,
        env_extra={"TIPLINE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"},
        check=False,
    )
    assert p.returncode == 1 and "TIPLINE_DATABASE_URL" in p.stderr


def test_extract_prints_json_lines(tmp_path):
    p = run(["extract", "--country", "PH"], tmp_path, stdin="call 0917 123 4567 or mail a.b@fake-mail-xyz.com")
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert {"kind": "phone", "value": "+639171234567"}.items() <= rows[0].items()
    assert {r["kind"] for r in rows} >= {"phone", "email"}
    assert all(set(r) == {"kind", "value", "start", "end", "confidence"} for r in rows)


def test_extract_prints_the_disguise_and_other_readings(tmp_path):
    text = "My cousin in the Philippines is forced to do shows, the number is O9l7 l23 4567."
    p = run(["extract", "--country", "IT", "--language", "en"], tmp_path, stdin=text)
    (line,) = [json.loads(x) for x in p.stdout.splitlines()]
    assert line["value"] == "+639171234567" and line["disguise"] == "letters"
    assert [a["value"] for a in line["alternatives"]] == ["+3909171234567"]


def test_rules_check(tmp_path):
    bad = tmp_path / "r.toml"
    bad.write_text("[[rule]]\nid='x'\ndescription='d'\nkind='nope'\npoints=1\n")
    p = run(["rules", "check", str(bad)], tmp_path, check=False)
    assert p.returncode == 1 and "unknown kind" in p.stderr
    defaults = run(["rules", "show-defaults"], tmp_path).stdout
    good = tmp_path / "g.toml"
    good.write_text(defaults)
    assert "live-abuse" in run(["rules", "check", str(good)], tmp_path).stdout


@pytest.mark.slow
def test_demo_then_queue(tmp_path):
    run(["demo", "--seed", "3", "--reports", "60"], tmp_path)
    q = json.loads(run(["queue", "--json", "--limit", "5"], tmp_path).stdout)
    assert q["total"] > 0
    prios = [i["priority"] for i in q["items"]]
    assert prios == sorted(prios)
    # a second demo load with the same seed is refused politely? no: it adds; the server only loads when empty
    assert run(["users", "list", "--json"], tmp_path).stdout.count("analyst") >= 1


def test_separate_data_dirs_are_separate_instances(tmp_path):
    run(["keys", "create", "P1", "--json"], tmp_path / "a")
    run(["keys", "create", "P1", "--json"], tmp_path / "b")  # no clash: another database
    p = run(["keys", "create", "P1", "--json"], tmp_path / "a", check=False)
    assert p.returncode == 1 and "exists already" in p.stderr
