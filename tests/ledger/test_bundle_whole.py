"""A bundle verifies whole: every file is pinned by the manifest and must equal what the signed
entries commit to; export verifies the ledger first and never builds a path from entry data."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from scalegate.ledger.audit import export, read_bundle
from scalegate.ledger.records import sha256_hex
from scalegate.ledger.store import db_url, entries_t
from scalegate.ledger.verify import verify_entries
from tests.conftest import run_cli
from tests.ledger.conftest import Built, build_realistic


@pytest.fixture(scope="module")
def ledger_and_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, Path]:
    folder = tmp_path_factory.mktemp("whole")
    b = build_realistic(db_url(str(folder / "ledger.db")), folder / "keys")
    out = folder / "bundle"
    export(b.ledger, out, public=False)
    return b, out


def _problems(bundle: Path) -> list[str]:
    rows, head, files = read_bundle(bundle)
    return [str(p) for p in verify_entries(rows, head)] + files


def _repin(bundle: Path, rel: str) -> None:
    """What a forger also does: update the manifest's hash of the edited file."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][rel] = sha256_hex((bundle / rel).read_bytes())
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _edit_policy(bundle: Path) -> None:
    [policy] = sorted((bundle / "policies").glob("*.yaml"))
    text = policy.read_text()
    assert "at_least: 0.5" in text
    policy.write_text(text.replace("at_least: 0.5", "at_least: 0.99", 1))
    _repin(bundle, f"policies/{policy.name}")


def _forge_keys(bundle: Path) -> None:
    keys = json.loads((bundle / "keys.json").read_text())
    first = next(iter(keys))
    keys[first]["roles"] = [*keys[first]["roles"], "board"]
    (bundle / "keys.json").write_text(json.dumps(keys))
    _repin(bundle, "keys.json")


def _edit_readme(bundle: Path) -> None:
    text = (bundle / "README.md").read_text()
    head = json.loads((bundle / "manifest.json").read_text())["head"]["hash"]
    (bundle / "README.md").write_text(text.replace(head, "0" * 64))
    _repin(bundle, "README.md")


def _add_file(bundle: Path) -> None:
    (bundle / "policies" / ("f" * 64 + ".yaml")).write_text("scalegate: 1\n")


def _remove_policy(bundle: Path) -> None:
    [policy] = sorted((bundle / "policies").glob("*.yaml"))
    policy.unlink()


def _edit_manifest_counts(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["entries"] += 1
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _manifest(bundle: Path, **changes: object) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest.update(changes)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _claim_public(bundle: Path) -> None:
    _manifest(bundle, public=True)  # a full bundle passed off as the public one


def _claim_redacted(bundle: Path) -> None:
    _manifest(bundle, public=True, redacted_fields=["assessment.evidence"])  # yet it is in clear


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        (_claim_public, "`public` is True but 0 field(s) are listed as redacted"),
        (_claim_redacted, "manifest.json lists assessment.evidence as redacted, but it is in clear"),
        (_edit_policy, "differs from the policy text its adoption entry commits to"),
        (_forge_keys, "keys.json: differs from the key registrations"),
        (_edit_readme, "README.md: names another head"),
        (_add_file, "not listed in manifest.json"),
        (_remove_policy, "listed in manifest.json but missing"),
        (_edit_manifest_counts, "entry count or entries_sha256 does not match"),
    ],
)
def test_every_bundle_file_edit_is_detected(
    ledger_and_bundle: tuple[Built, Path], tmp_path: Path, tamper: Callable[[Path], None], found: str
) -> None:
    _, original = ledger_and_bundle
    bundle = tmp_path / "b"
    shutil.copytree(original, bundle)
    assert _problems(bundle) == []
    tamper(bundle)
    problems = _problems(bundle)
    assert any(found in p for p in problems), problems


def test_export_of_a_tampered_ledger_exits_4_and_writes_nothing_outside(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    b = build_realistic(db_url(str(db)), tmp_path / "keys")
    first_policy = next(e for e in b.entries() if e.kind == "policy_adopted")
    payload = dict(first_policy.payload)
    payload["sha256"] = "../../../escaped"
    with b.ledger.engine.begin() as conn:
        conn.execute(
            entries_t.update().where(entries_t.c.seq == first_policy.seq).values(payload=json.dumps(payload))
        )
    b.ledger.close()
    res = run_cli("audit", "export", "--out", str(tmp_path / "deep" / "bundle"), "--db", str(db))
    assert res.returncode == 4, res.stderr
    assert "not exported" in res.stderr
    assert not (tmp_path / "deep" / "bundle").exists()
    assert not any(p.name.startswith("escaped") for p in tmp_path.rglob("*"))
    with sa.create_engine(db_url(str(db))).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(entries_t)).scalar() == len(b.entries())


def test_a_public_bundle_redacts_whole(ledger_and_bundle: tuple[Built, Path], tmp_path: Path) -> None:
    """Marker strings planted in private fields (key holders, the model path and what repeats
    it, output folders, reporter names) appear nowhere in a public bundle with those fields
    restricted, and the bundle still verifies."""
    b, _ = ledger_and_bundle
    out = tmp_path / "public"
    restrict = {"key_registered.holder", "assessment.model", "noncompliance_report.reporter"}
    export(b.ledger, out, public=True, extra_restricted=restrict)
    assert _problems(out) == []
    text = "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    markers = ["rso holder", "ceo holder", "board holder", "acme/frontier-7b", "/srv/assessments"]
    assert [m for m in markers if m in text] == []


def test_who_ran_a_command_is_recorded_but_never_public(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Since entry format 2 the clear-text actor names only the signing key; the user and host
    are the salted payload field `recorded_by`, kept in a private bundle and dropped from every
    public one without restricting anything."""
    import scalegate.ledger.store as store

    monkeypatch.setattr(store, "_local_user", lambda: "MARKERUSER@MARKERHOST")
    b = build_realistic(db_url(str(tmp_path / "ledger.db")), tmp_path / "keys")
    entries = b.ledger.entries()
    assert all(e.actor == f"key:{e.signatures[0].key_id}" for e in entries)
    assert all(e.payload["recorded_by"] == "MARKERUSER@MARKERHOST" for e in entries)
    export(b.ledger, tmp_path / "private", public=False)
    export(b.ledger, tmp_path / "public", public=True)
    for name, hits in (("private", True), ("public", False)):
        bundle = tmp_path / name
        assert _problems(bundle) == []
        text = "\n".join(p.read_text(errors="replace") for p in bundle.rglob("*") if p.is_file())
        assert ("MARKERHOST" in text) is hits, name
    assert "before entry format 2" not in (tmp_path / "public" / "README.md").read_text()
    # an entry of the first format (actor `user@host` in clear, under its signed hash) is
    # exported as it is, and the public README says so rather than implying it is hidden
    seq, head = b.ledger.head()
    old = {"text": "x", "scope": "s", "covers": {"seq": seq, "hash": head}}
    b.ledger.append("audit_statement", old, [(b.keys["operator"], "operator")], actor="old@host")
    export(b.ledger, tmp_path / "public2", public=True)
    assert "1 entries were written before entry format 2" in (tmp_path / "public2" / "README.md").read_text()


def test_the_caller_cannot_forge_who_ran_a_command(tmp_path: Path) -> None:
    from scalegate.errors import InputError

    b = build_realistic(db_url(str(tmp_path / "ledger.db")), tmp_path / "keys")
    with pytest.raises(InputError, match="recorded_by"):
        b.ledger.append("audit_statement", {"recorded_by": "x@y"}, [(b.keys["operator"], "operator")])


def test_a_public_bundle_cannot_hide_what_it_withholds(
    ledger_and_bundle: tuple[Built, Path], tmp_path: Path
) -> None:
    """The unsigned manifest must agree with the signed entries about redaction: dropping a
    field from `redacted_fields`, or calling the bundle non-public, is named."""
    b, _ = ledger_and_bundle
    out = tmp_path / "public"
    export(b.ledger, out, public=True, extra_restricted={"key_registered.holder"})
    assert _problems(out) == []
    listed = json.loads((out / "manifest.json").read_text())["redacted_fields"]
    _manifest(out, redacted_fields=[f for f in listed if f != "key_registered.holder"])
    assert any(
        "key_registered.holder is redacted but manifest.json does not list it" in p for p in _problems(out)
    )
    _manifest(out, public=False, redacted_fields=[])
    problems = _problems(out)  # passed off as a full bundle: every redaction is now unlisted
    assert any("recorded_by is redacted but manifest.json does not list it" in p for p in problems)


def test_a_bundle_carries_its_head_signed_and_verify_checks_it(tmp_path: Path) -> None:
    """`audit export` signs the head with the operator key into checkpoint.json (an anchor to
    publish with the bundle); `verify --bundle` checks its signature and that it is the head."""
    folder = tmp_path / "work"
    b = build_realistic(db_url(str(folder / "ledger.db")), folder / "keys")
    b.ledger.close()
    key = str(folder / "keys" / "operator.key")
    res = run_cli(
        "audit", "export", "--out", "bundle", "--db", str(folder / "ledger.db"), "--key", key, cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    bundle = tmp_path / "bundle"
    data = json.loads((bundle / "checkpoint.json").read_text())
    assert (data["seq"], data["entry_hash"]) == (len(b.entries()), b.entries()[-1].entry_hash)
    assert _problems(bundle) == []
    ok = run_cli("ledger", "verify", "--bundle", str(bundle), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    # a forged signature (re-pinned in the manifest) is named
    data["signature"] = "00" * 64
    (bundle / "checkpoint.json").write_text(json.dumps(data))
    _repin(bundle, "checkpoint.json")
    assert any("checkpoint.json" in p and "does not verify" in p for p in _problems(bundle))
    # without a key the export still works, says so, and carries no checkpoint
    bare = run_cli("audit", "export", "--out", "bare", "--db", str(folder / "ledger.db"), cwd=tmp_path)
    assert bare.returncode == 0 and "no signed checkpoint" in " ".join(bare.stderr.split())
    assert not (tmp_path / "bare" / "checkpoint.json").exists()
