"""Audit bundles: a self-contained folder that verifies on another machine.

`--public` replaces the fields the policy marks restricted (`governance.restricted_fields`,
as `kind.field`) with their salted digests: the chain and signatures still verify, the
redacted values are not in the bundle.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalegate.errors import InputError, NotVerified
from scalegate.ledger.records import RECORDED_BY, sha256_hex

if TYPE_CHECKING:  # verifying a bundle needs no database driver
    from scalegate.ledger.records import Entry
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
    return restricted_in(ledger.iter_entries())


def restricted_in(entries: Iterable[Entry]) -> set[str]:
    """The fields the newest adopted policy restricts (`governance.restricted_fields`)."""
    from scalegate.policy.loader import parse_policy

    latest = None
    for e in entries:
        if e.kind == "policy_adopted":
            latest = e.payload["text"]
    if latest is None:
        return set()
    gov = parse_policy(latest).policy.governance
    return set(gov.restricted_fields) if gov else set()


#: Restricting the first field of a kind restricts the others with it: they repeat it (an
#: assessment's checkpoint names the model path; its output folder is a local path).
_IMPLIED = {
    "assessment.model": (
        "assessment.checkpoint",
        "assessment.output_dir",
        "assessment.evidence",  # each eval's provenance names the model too
        "assessment.post_evidence",
        "assessment.relative",  # the references' models and evidence, and per-sample scores
    ),
    "assessment.evidence": ("assessment.post_evidence", "assessment.relative"),
}
_SHA256 = re.compile(r"[0-9a-f]{64}")


def public_restrictions(restricted: set[str]) -> set[str]:
    """The `kind.field`s a public view withholds: those named, what they imply, and who ran
    each command. The one definition `audit export --public` and public reports share."""
    out = set(restricted)
    for field, implied in _IMPLIED.items():
        if field in out:
            out |= set(implied)
    # a preliminary assessment carries an assessment's fields (model, checkpoint, evidence, ...)
    out |= {"preliminary." + f.split(".", 1)[1] for f in out if f.startswith("assessment.")}
    out.add(f"*.{RECORDED_BY}")  # a local user and host name is never public
    return out


def hidden_fields(restricted: set[str], kind: str) -> set[str]:
    """The payload fields of an entry of `kind` that `restricted` withholds."""
    return {f.split(".", 1)[1] for f in restricted if f.split(".", 1)[0] in (kind, "*")}


def shown_entry(e: Entry, restricted: set[str]) -> Entry:
    hidden = hidden_fields(restricted, e.kind)
    return e.redact(hidden) if hidden else e


class LedgerNotVerified(NotVerified):
    """Export refused: the ledger itself does not verify (the CLI exits 4)."""

    def __init__(self, problems: list[Any]) -> None:
        self.problems = problems
        super().__init__(f"the ledger has {len(problems)} problem(s); fix or report them before exporting")


def export(
    ledger: Ledger,
    out: Path,
    public: bool,
    extra_restricted: set[str] | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a bundle of the whole ledger, after verifying it (a tampered ledger is never
    exported). No path is built from entry data; the manifest pins every file's sha256."""
    from scalegate.ledger.verify import verify_entries

    problems = verify_entries(list(ledger.raw_rows()), head=ledger.head())
    if problems:
        raise LedgerNotVerified(problems)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    restricted = (
        public_restrictions(restricted_fields(ledger) | (extra_restricted or set())) if public else set()
    )
    lines, policies, keys = [], {}, {}
    clear_actors = 0
    for e in ledger.iter_entries():
        clear_actors += not e.actor.startswith("key:")
        shown = shown_entry(e, restricted)
        if shown.kind == "policy_adopted" and isinstance(shown.payload.get("text"), str):
            policies[shown.payload["sha256"]] = shown.payload["text"]
        if shown.kind == "key_registered":
            keys[shown.payload["key_id"]] = {k: shown.payload[k] for k in _KEY_FIELDS if k in shown.payload}
        lines.append(json.dumps(shown.model_dump(mode="json"), sort_keys=True))
    body = "\n".join(lines) + "\n"
    files: dict[str, bytes] = {"entries.jsonl": body.encode()}
    for sha, text in policies.items():
        if _SHA256.fullmatch(str(sha)):  # verified above; never a path from entry data otherwise
            files[f"policies/{sha}.yaml"] = text.encode()
    files["keys.json"] = (json.dumps(keys, indent=2, sort_keys=True) + "\n").encode()
    head_seq, head_hash = ledger.head()
    if checkpoint is not None:  # the head, signed: what a reader publishes to detect a rollback
        if (checkpoint.get("seq"), checkpoint.get("entry_hash")) != (head_seq, head_hash):
            raise InputError("the checkpoint to include is not of the ledger's head")
        files["checkpoint.json"] = (json.dumps(checkpoint, indent=2) + "\n").encode()
    note = (
        f"\nThis is a PUBLIC bundle: the fields {sorted(restricted)} are replaced by their salted "
        "digests, so they can be neither read nor guessed, and the chain still verifies. Decisions "
        "whose evidence was redacted are checked by hash, not recomputed.\n"
        + (
            f"{clear_actors} entries were written before entry format 2 and name the user@host that "
            "ran the command in their `actor`, which their signed hash covers and no export can hide.\n"
            if clear_actors
            else ""
        )
        if public
        else ""
    )
    files["README.md"] = _README.format(
        head_seq=head_seq, head_hash=head_hash, name=out.name, public_note=note
    ).encode()
    (out / "policies").mkdir()
    for rel, blob in files.items():
        (out / rel).write_bytes(blob)
    manifest = {
        "schema": BUNDLE_SCHEMA,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "entries": len(lines),
        "entries_sha256": sha256_hex(body.encode()),
        "head": {"seq": head_seq, "hash": head_hash},
        "public": public,
        "redacted_fields": sorted(restricted),
        "files": {rel: sha256_hex(blob) for rel, blob in sorted(files.items())},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


_KEY_FIELDS = ("public_key", "roles", "holder")


def read_bundle(path: Path) -> tuple[list[dict[str, Any]], tuple[int, str], list[str]]:
    """The bundle's rows, the head its manifest claims (verify checks the rows reach it, so a
    bundle with its last entries cut off does not verify), and the problems of its other files:
    every file must match the sha256 the manifest pins, no file may be added, and the policy
    texts, keys and README must be exactly what the entries commit to."""
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        body = (path / "entries.jsonl").read_text()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a scalegate audit bundle ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA:
        schema = manifest.get("schema") if isinstance(manifest, dict) else None
        raise InputError(f"{path}: unknown bundle schema {schema!r}")
    rows = []
    for n, line in enumerate(body.splitlines(), start=1):
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        rows.append(row if isinstance(row, dict) else {"seq": n})  # reported as an entry that does not parse
    raw_head = manifest.get("head")
    head: dict[str, Any] = raw_head if isinstance(raw_head, dict) else {}
    try:
        claimed = (int(head.get("seq", -1)), str(head.get("hash", "")))
    except (TypeError, ValueError):
        claimed = (-1, "")
    return rows, claimed, _file_problems(path, manifest, rows, body, claimed)


def _file_problems(
    path: Path, manifest: dict[str, Any], rows: list[dict[str, Any]], body: str, head: tuple[int, str]
) -> list[str]:
    out: list[str] = []
    files = manifest.get("files")
    if not isinstance(files, dict):
        return ["manifest.json pins no file hashes (`files`): export the bundle again with this scalegate"]
    on_disk = {
        p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() and p.name != "manifest.json"
    }
    for rel in sorted(on_disk - set(files)):
        out.append(f"{rel}: not listed in manifest.json (added after export)")
    for rel, digest in sorted(files.items()):
        file = path / str(rel)
        if str(rel) not in on_disk:
            out.append(f"{rel}: listed in manifest.json but missing")
        elif sha256_hex(file.read_bytes()) != digest:
            out.append(f"{rel}: changed since export (sha256 differs from manifest.json)")
    if manifest.get("entries") != len(rows) or manifest.get("entries_sha256") != sha256_hex(body.encode()):
        out.append("manifest.json: entry count or entries_sha256 does not match entries.jsonl")
    out += _redaction_problems(manifest, rows)
    out += _checkpoint_problems(path, rows, head)
    policies, keys = {}, {}
    for r in rows:
        raw = r.get("payload")
        payload: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if r.get("kind") == "policy_adopted" and isinstance(payload.get("text"), str):
            policies[f"policies/{payload.get('sha256')}.yaml"] = payload["text"]
        if r.get("kind") == "key_registered" and isinstance(payload.get("key_id"), str):
            keys[payload["key_id"]] = {k: payload[k] for k in _KEY_FIELDS if k in payload}
    shipped = {rel for rel in on_disk if rel.startswith("policies/")}
    for rel in sorted(shipped ^ set(policies)):
        out.append(
            f"{rel}: the entries adopt {'no such policy' if rel in shipped else 'it, but it is missing'}"
        )
    for rel in sorted(shipped & set(policies)):
        if (path / rel).read_text(encoding="utf-8", errors="replace") != policies[rel]:
            out.append(f"{rel}: differs from the policy text its adoption entry commits to")
    try:
        shipped_keys = json.loads((path / "keys.json").read_text())
    except (OSError, ValueError):
        shipped_keys = None
    if shipped_keys != keys:
        out.append("keys.json: differs from the key registrations in the entries")
    try:
        readme = (path / "README.md").read_text(encoding="utf-8", errors="replace")
    except OSError:
        readme = ""
    if f"up to entry {head[0]}" not in readme or f"(hash `{head[1]}`)" not in readme:
        out.append("README.md: names another head than manifest.json")
    return out


def _redaction_problems(manifest: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """manifest.json is not signed, so what it says about redaction must follow from the
    entries: every redacted field listed, no listed field shown in clear, and `public` exactly
    when something is redacted (an edited manifest cannot pass a full bundle off as public, or
    hide that fields were withheld)."""
    listed = manifest.get("redacted_fields")
    if not isinstance(listed, list) or not all(isinstance(f, str) for f in listed):
        return ["manifest.json: `redacted_fields` is not a list of field names"]
    out: list[str] = []
    if manifest.get("public") is not bool(listed):
        out.append(
            f"manifest.json: `public` is {manifest.get('public')!r} but {len(listed)} field(s) are "
            "listed as redacted"
        )

    def covered(kind: Any, name: str) -> bool:
        return f"{kind}.{name}" in listed or f"*.{name}" in listed

    for r in rows:
        kind, payload, redacted = r.get("kind"), r.get("payload"), r.get("redacted")
        for name in redacted if isinstance(redacted, dict) else {}:
            if not covered(kind, name):
                out.append(
                    f"entry {r.get('seq')}: {kind}.{name} is redacted but manifest.json does not list it"
                )
        for name in payload if isinstance(payload, dict) else {}:
            if covered(kind, name):
                out.append(
                    f"entry {r.get('seq')}: manifest.json lists {kind}.{name} as redacted, but it is in clear"
                )
    return out[:50]


def _checkpoint_problems(path: Path, rows: list[dict[str, Any]], head: tuple[int, str]) -> list[str]:
    """A bundle's `checkpoint.json` (optional: `audit export --no-sign` leaves it out) must be a
    valid signature, by a key the chain validly registered, of the head the manifest claims."""
    from scalegate.ledger.verify import checkpoint_anchor

    file = path / "checkpoint.json"
    if not file.is_file():
        return []
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"checkpoint.json: not a checkpoint ({exc})"]
    anchor, problems = checkpoint_anchor(data, rows)
    if not problems and anchor != head:
        problems.append(f"checkpoint.json signs entry {anchor[0]}, but manifest.json claims head {head[0]}")
    return [p if p.startswith("checkpoint.json") else f"checkpoint.json: {p}" for p in problems]
