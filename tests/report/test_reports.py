"""`scalegate report`: every kind in every format from a real recorded history; the public
profile leaks none of the planted private values; the same inputs give the same bytes; a
tampered ledger or assessment is refused (exit 4); the checklists say what is missing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from scalegate.report.document import Document, Record, Section, Table, cell
from tests.report.conftest import MARKERS, Recorded

FOLDER_KINDS = ("capability", "safeguards", "model-report")
LEDGER_KINDS = ("capability", "safeguards", "model-report", "transparency", "history")


def _report(rec: Recorded, *args: str, db: Path | None = None) -> tuple[int, str, str]:
    res = rec.cli("report", *args, *(("--db", str(db)) if db else ()))
    return res.returncode, res.stdout, res.stderr


@pytest.mark.parametrize("kind", FOLDER_KINDS)
def test_folder_reports_render_and_carry_the_recorded_scorecard(recorded: Recorded, kind: str) -> None:
    rc, out, err = _report(recorded, kind, "--assessment", str(recorded.folder), "-f", "json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["kind"] == kind and doc["profile"] == "internal"
    assessment = json.loads((recorded.folder / "assessment.json").read_text())
    assert doc["footer"]["policy_sha256"] == assessment["policy"]["sha256"]
    assert doc["as_of"] == assessment["completed_at"]  # never the time of generation
    ids = {r["id"] for r in doc["records"]}
    for section in doc["sections"]:
        for block in section["blocks"]:
            for row in block.get("rows", []):
                assert all(c["ref"] in ids for c in row if c["ref"])


def test_capability_scorecard_and_evidence_equal_the_assessment(recorded: Recorded) -> None:
    rc, out, err = _report(recorded, "capability", "-a", str(recorded.folder), "-f", "json")
    assert rc == 0, err
    doc = json.loads(out)
    assessment = json.loads((recorded.folder / "assessment.json").read_text())
    table = next(b for s in doc["sections"] for b in s["blocks"] if b.get("id") == "scorecard")
    pre = assessment["scorecard"]["pre_mitigation"]["domains"]
    assert [r[0]["text"] for r in table["rows"]] == [f"{k} ({d['title']})" for k, d in pre.items()]
    assert [r[1]["text"] for r in table["rows"]] == [d["level"] for d in pre.values()]
    evals = next(b for s in doc["sections"] for b in s["blocks"] if b.get("id") == "evals-cyber")
    est = assessment["evidence"]["security"]["metrics"]["accuracy"]
    row = evals["rows"][0]
    assert row[0]["text"] == "security" and row[2]["text"] == str(est["n"])
    assert row[3]["text"] == f"{est['value']:.3f}"
    assert row[4]["text"].startswith(f"[{est['low']:.3f}, {est['high']:.3f}]")
    # example items come from the real Inspect log, seeded: three, with their sample ids
    examples = next(
        b for s in doc["sections"] for b in s["blocks"] if b.get("id") == "examples-cyber-security"
    )
    assert len(examples["rows"]) == 3 and all(r[0]["text"].startswith("mmlu-") for r in examples["rows"])
    # what would have ruled the line in or out, at this n (20): computed, not prose
    assert "/20" in row[-1]["text"]
    # a random model's interval reaches chance (0.25): the report says the score shows nothing
    assert (est["low"] <= 0.25) == ("no signal" in row[-2]["text"])


@pytest.mark.parametrize("kind", LEDGER_KINDS)
def test_ledger_reports_render_in_markdown_and_html(recorded: Recorded, kind: str) -> None:
    for fmt in ("markdown", "html"):
        rc, out, err = _report(recorded, kind, "-f", fmt, db=recorded.db)
        assert rc == 0, (kind, fmt, err)
        assert recorded.decision[:12] in out or kind == "history"
        head = json.loads(recorded.cli("ledger", "show", "--json").stdout)[-1]
        assert head["entry_hash"] in out  # the footer names the ledger head it was built from


def test_public_reports_leak_no_planted_private_value(recorded: Recorded, tmp_path: Path) -> None:
    internal = _report(recorded, "transparency", "-f", "html", db=recorded.db)[1]
    # the markers are really in the ledger: the internal view shows what a public one withholds
    assert MARKERS["justification"] in internal
    for kind in LEDGER_KINDS:
        for fmt in ("html", "markdown", "json"):
            rc, out, err = _report(recorded, kind, "--profile", "public", "-f", fmt, db=recorded.db)
            assert rc == 0, (kind, fmt, err)
            leaked = [m for m in MARKERS.values() if m in out]
            assert not leaked, (kind, fmt, leaked)
    for kind in FOLDER_KINDS:
        rc, out, err = _report(
            recorded, kind, "-a", str(recorded.folder), "--profile", "public", "-f", "html"
        )
        assert rc == 0, err
        assert not [m for m in MARKERS.values() if m in out]
        assert "withheld" in out


def test_public_pdf_leaks_nothing_either(recorded: Recorded, tmp_path: Path, browser: str) -> None:
    pdf = tmp_path / "t.pdf"
    rc, _, err = _report(
        recorded, "transparency", "--profile", "public", "-f", "pdf", "-o", str(pdf), db=recorded.db
    )
    assert rc == 0, err
    import subprocess

    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Transparency report" in text
    assert not [m for m in MARKERS.values() if m in text]


def test_same_inputs_same_bytes(recorded: Recorded, tmp_path: Path, browser: str) -> None:
    for kind, fmt in (
        ("capability", "html"),
        ("transparency", "pdf"),
        ("history", "html"),
        ("model-report", "md"),
    ):
        digests = []
        for i in range(2):
            out = tmp_path / f"{kind}-{i}.{fmt}"
            rc, _, err = _report(recorded, kind, "-f", fmt, "-o", str(out), db=recorded.db)
            assert rc == 0, err
            digests.append(out.read_bytes())
        assert digests[0] == digests[1], kind


def test_tampered_ledger_is_refused_with_exit_4(
    recorded: Recorded, ledger_copy: Path, tmp_path: Path
) -> None:
    with sqlite3.connect(ledger_copy) as conn:
        seq, payload = conn.execute(
            "SELECT seq, payload FROM ledger_entries WHERE kind = 'assessment' ORDER BY seq LIMIT 1"
        ).fetchone()
        edited = json.loads(payload)
        edited["protections_in_place"] = ["everything"]
        conn.execute("UPDATE ledger_entries SET payload = ? WHERE seq = ?", (json.dumps(edited), seq))
    out = tmp_path / "r.html"
    rc, _, err = _report(recorded, "transparency", "-o", str(out), db=ledger_copy)
    assert rc == 4, err
    assert not out.exists()


def test_deleted_newest_entry_is_refused(recorded: Recorded, ledger_copy: Path) -> None:
    with sqlite3.connect(ledger_copy) as conn:
        conn.execute("DELETE FROM ledger_entries WHERE seq = (SELECT MAX(seq) FROM ledger_entries)")
    rc, _, err = _report(recorded, "transparency", db=ledger_copy)
    assert rc == 4, err


def test_edited_assessment_folder_is_refused(recorded: Recorded, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "a"
    shutil.copytree(recorded.folder, folder, ignore=shutil.ignore_patterns("logs"))
    data = json.loads((folder / "assessment.json").read_text())
    for action in data["decision"]["actions"].values():
        action["status"] = "allowed"
        action["reasons"] = []
    (folder / "assessment.json").write_text(json.dumps(data))
    rc, _, err = _report(recorded, "capability", "-a", str(folder))
    assert rc == 4 and "not what its evidence and policy decide" in err
    (folder / "policy.yaml").write_text((folder / "policy.yaml").read_text() + "\n# edited\n")
    rc, _, err = _report(recorded, "capability", "-a", str(folder))
    assert rc == 4 and "not the policy the assessment was decided under" in err


def test_check_model_report_lists_exactly_what_the_evidence_cannot_supply(recorded: Recorded) -> None:
    rc, out, err = _report(recorded, "--check", "model-report", "-a", str(recorded.folder))
    assert rc == 0, err
    listed = {line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("- item: ")}
    assert listed == {
        # narrative the developer writes
        "7.1(1)",
        "7.1(2)",
        "7.1(4)(a-c)",
        "7.3(1)(c)",
        "7.3(1)(g)",
        "7.3(4)",
        "7.5",
        # facts this assessment folder does not hold
        "7.2(3)",  # no ledger, so no sign-off
        "7.3(1)(d)(ii)",  # no post-mitigation evidence
        "7.3(1)(e)(v)",  # no human baseline
        "7.3(1)(h)",  # not applicable: no 'similarly safe' claim
        "7.3(3)",  # no protection declared in place
        "7.4",  # no external statement (no ledger)
    }
    assert "NO REASON GIVEN" not in out
    # from the ledger the sign-off and the audit statement answer 7.2(3) and 7.4
    rc, out, err = _report(recorded, "--check", "model-report", db=recorded.db)
    assert rc == 0, err
    listed = {line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("- item: ")}
    assert "7.2(3)" not in listed and "7.4" not in listed


def test_check_exits_3_when_a_required_item_has_no_answer(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scalegate import cli_report
    from scalegate.report.checklists import checklist

    doc = Document(
        kind="model-report",
        profile="internal",
        title="t",
        subtitle="s",
        as_of="2026-01-01",
        sections=[Section(id="c", title="c", blocks=[checklist("model-report", {}, "cop", "CoP")])],
        records=[],
        footer={"policy": "p", "policy_sha256": "0" * 64, "scalegate_version": "0"},  # type: ignore[arg-type]
    )
    assert cli_report._print_check(doc) == 3


def test_a_reference_to_no_record_is_a_bug_caught_at_build() -> None:
    table = Table(id="t", caption="c", columns=["x"], rows=[[cell("1", "ev-nowhere")]])
    with pytest.raises(ValueError, match="ev-nowhere"):
        Document(
            kind="k",
            profile="internal",
            title="t",
            subtitle="s",
            as_of="",
            sections=[Section(id="s", title="s", blocks=[table])],
            records=[Record(id="other", kind="assessment", title="x")],
            footer={"policy": "p", "policy_sha256": "0", "scalegate_version": "0"},  # type: ignore[arg-type]
        )


def test_bad_input_gets_a_clear_error_not_a_traceback(recorded: Recorded, tmp_path: Path) -> None:
    cases = [
        (("nonsense", "-a", str(recorded.folder)), "choose capability"),
        (("capability",), "no ledger at"),  # no folder named: the default ledger, absent here
        (("capability", "-a", str(recorded.folder), "--db", str(recorded.db)), "not both"),
        (("capability", "-a", str(tmp_path)), "no assessment.json"),
        (("capability", "-a", str(recorded.folder), "-f", "docx"), "--format docx: choose"),
        (("capability", "-a", str(recorded.folder), "-f", "pdf"), "-o FILE.pdf"),
        (("transparency", "-a", str(recorded.folder)), "reads the ledger"),
        (("capability", "--db", str(tmp_path / "none.db")), "no ledger at"),
        (("capability", "--db", str(recorded.db), "--decision", "ffff"), "no such decision"),
        (("capability", "-a", str(recorded.folder), "--profile", "secret"), "choose internal or public"),
    ]
    for args, expected in cases:
        res = recorded.cli("report", *args, cwd=tmp_path)  # no default ledger here
        assert res.returncode == 2, (args, res.stderr)
        assert expected in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr


def test_an_unreadable_inspect_log_costs_the_examples_not_the_report(
    recorded: Recorded, tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / "a"
    shutil.copytree(recorded.folder, folder)
    for log in (folder / "logs").rglob("*.eval"):
        log.write_bytes(b"PK\x03\x04 not a zip")
    # the folder's own (broken) logs are read, not the good ones still at the recorded path
    rc, out, err = _report(recorded, "capability", "-a", str(folder), "-f", "markdown")
    assert rc == 0, err
    assert "its Inspect log could not be read" in out


def test_a_moved_folder_still_shows_its_examples(recorded: Recorded, tmp_path: Path) -> None:
    """Logs are found in the folder reported, wherever it moved and wherever the command runs."""
    import shutil

    folder = tmp_path / "moved"
    shutil.copytree(recorded.folder, folder)
    res = recorded.cli("report", "capability", "-a", str(folder), "-f", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    blocks = [b for s in json.loads(res.stdout)["sections"] for b in s["blocks"]]
    assert any(b.get("id", "").startswith("examples-") for b in blocks)
