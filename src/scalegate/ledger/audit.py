"""Audit bundles: a self-contained folder that verifies on another machine.

`--public` replaces the fields the policy marks restricted (`governance.restricted_fields`,
as `kind.field`) with their salted digests: the chain and signatures still verify, the
redacted values are not in the bundle.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalegate.errors import InputError
from scalegate.ledger.records import sha256_hex

if TYPE_CHECKING:  # verifying a bundle needs no database driver
    from scalegate.ledger.store import Ledger

BUNDLE_SCHEMA = "scalegate.audit-bundle/1"

_README = """# scalegate audit bundle

This folder is a slice of a scalegate ledger: every entry from the first up to entry {head_seq}
(hash `{head_hash}`), the policy texts adopted in it, and the public keys registered in it.

Verify it on any machine with scalegate installed:

    scalegate ledger verify --bundle {name}

Verification recomputes the hash chain, checks every signature against the key registry as it
stood when the entry was signed (registrations and revocations are entries of the ledger
itself), recomputes every decision from its recorded evidence under the policy text in force,
and checks that required sign-offs came before the actions they gate.
{public_note}
Compare the head hash above with the one the organisation published (`scalegate ledger head`):
a chain rewritten from some entry onwards would need every later signer's key, and a rewrite
of the whole ledger changes the head.
"""


def restricted_fields(ledger: Ledger) -> set[str]:
    from scalegate.policy.loader import parse_policy

    latest = None
    for e in ledger.iter_entries():
        if e.kind == "policy_adopted":
            latest = e.payload["text"]
    if latest is None:
        return set()
    gov = parse_policy(latest).policy.governance
    return set(gov.restricted_fields) if gov else set()


def export(
    ledger: Ledger, out: Path, public: bool, extra_restricted: set[str] | None = None
) -> dict[str, Any]:
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    restricted = (restricted_fields(ledger) | (extra_restricted or set())) if public else set()
    lines, policies, keys = [], {}, {}
    for e in ledger.iter_entries():
        if e.kind == "policy_adopted":
            policies[e.payload["sha256"]] = e.payload["text"]
        if e.kind == "key_registered":
            keys[e.payload["key_id"]] = {k: e.payload[k] for k in ("public_key", "roles", "holder")}
        hidden = {f.split(".", 1)[1] for f in restricted if f.split(".", 1)[0] == e.kind}
        shown = e.redact(hidden) if hidden else e
        lines.append(json.dumps(shown.model_dump(mode="json"), sort_keys=True))
    body = "\n".join(lines) + "\n"
    (out / "entries.jsonl").write_text(body)
    (out / "policies").mkdir()
    for sha, text in policies.items():
        if not public or "policy_adopted.text" not in restricted:
            (out / "policies" / f"{sha}.yaml").write_text(text)
    (out / "keys.json").write_text(json.dumps(keys, indent=2) + "\n")
    head_seq, head_hash = ledger.head()
    manifest = {
        "schema": BUNDLE_SCHEMA,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "entries": len(lines),
        "entries_sha256": sha256_hex(body.encode()),
        "head": {"seq": head_seq, "hash": head_hash},
        "public": public,
        "redacted_fields": sorted(restricted),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    note = (
        f"\nThis is a PUBLIC bundle: the fields {sorted(restricted)} are replaced by their salted "
        "digests, so they can be neither read nor guessed, and the chain still verifies. Decisions "
        "whose evidence was redacted are checked by hash, not recomputed.\n"
        if public
        else ""
    )
    (out / "README.md").write_text(
        _README.format(head_seq=head_seq, head_hash=head_hash, name=out.name, public_note=note)
    )
    return manifest


def read_bundle(path: Path) -> tuple[list[dict[str, Any]], tuple[int, str]]:
    """The bundle's rows and the head its manifest claims: verify checks the rows reach it,
    so a bundle with its last entries cut off does not verify."""
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        body = (path / "entries.jsonl").read_text()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a scalegate audit bundle ({exc})") from exc
    if manifest.get("schema") != BUNDLE_SCHEMA:
        raise InputError(f"{path}: unknown bundle schema {manifest.get('schema')!r}")
    rows = []
    for n, line in enumerate(body.splitlines(), start=1):
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append({"seq": n})  # reported as an entry that does not parse
    head = manifest.get("head") or {}
    return rows, (int(head.get("seq", -1)), str(head.get("hash", "")))
