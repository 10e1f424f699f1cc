"""Ledger commands: `scalegate ledger ...`, `scalegate keys ...`, `signoff`, `override`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from scalegate.errors import InputError
from scalegate.report.records import print_records

err = Console(stderr=True)
out = Console()

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Ledger: a SQLite file (default ./scalegate-ledger.db) or a URL "
        "such as postgresql://user@host/db.",
    ),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key", help="Your Ed25519 private key (default: $SCALEGATE_KEY or .scalegate/keys/operator.key)."
    ),
]


def _e(value: object) -> str:
    """Text from input (names, paths, messages quoting a file) printed through rich: escaped,
    so a `[/x]` in a policy name or file name is shown, not read as markup (a traceback)."""
    return escape(str(value))


ledger_app = typer.Typer(help="The append-only, signed ledger: show, verify, status.", no_args_is_help=True)
keys_app = typer.Typer(help="Ed25519 keys bound to the policy's roles.", no_args_is_help=True)


def open_ledger(db: str | None, create: bool = False, read_only: bool = False):  # type: ignore[no-untyped-def]
    """The ledger `--db` names. Only commands that start a ledger (`assess`, `keys create`) may
    create it: a mistyped path must not verify as an empty, clean ledger. Commands that only
    read (`verify`, `show`, `head`, `status`, `keys list`, `audit export`) open it read-only."""
    from scalegate.ledger.store import Ledger, db_url

    url = db_url(db)
    if not create and url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise InputError(
                f"--db: no ledger at {path}; check the path (`scalegate assess` starts one on its first run)"
            )
    return Ledger(url, read_only=read_only)


def _key(path: Path | None):  # type: ignore[no-untyped-def]
    from scalegate.ledger import keys
    from scalegate.ledger.workflow import default_key_path

    return keys.load(path or default_key_path())


@ledger_app.command("show")
def show(
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    kind: Annotated[str | None, typer.Option(help="Only entries of this kind.")] = None,
    details: Annotated[bool, typer.Option("--details", help="Every entry, not only the newest.")] = False,
    last: Annotated[int, typer.Option(min=1, help="How many of the newest entries the summary lists.")] = 20,
) -> None:
    """A summary of the ledger: entries per kind and the newest entries (oldest first);
    `--details` lists every entry, `--json` gives them all as data."""
    from typing import get_args

    from scalegate.ledger.records import EntryKind

    if kind is not None and kind not in get_args(EntryKind):
        raise InputError(f"--kind {kind}: not an entry kind; choose one of {', '.join(get_args(EntryKind))}")
    ledger = open_ledger(db, read_only=True)
    entries = [e for e in ledger.iter_entries() if kind is None or e.kind == kind]
    if as_json:
        sys.stdout.write(json.dumps([e.model_dump(mode="json") for e in entries], indent=2) + "\n")
        return
    print_override_flags(ledger)
    shown = entries if details else entries[-last:]
    if len(shown) < len(entries):
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.kind] = counts.get(e.kind, 0) + 1
        out.print(
            f"{len(entries)} entries ({', '.join(f'{n} {k}' for k, n in counts.items())}); the newest "
            f"{len(shown)} below, --details lists every one",
            highlight=False,
        )
    rows = [
        [
            str(e.seq),
            e.entry_id[:12],
            e.kind,
            e.created_at[:19],
            ", ".join(f"{s.role}:{s.key_id[:8]}" for s in e.signatures),
            _summary(e),
        ]
        for e in shown
    ]
    print_records(
        out, f"Ledger {ledger.url}", ("seq", "id", "kind", "time (UTC)", "signed by", "summary"), rows
    )


def _summary(e) -> str:  # type: ignore[no-untyped-def]
    p = e.payload
    if e.kind == "key_registered":
        return f"{p['key_id']} {p['holder']} roles={','.join(p['roles'])}"
    if e.kind == "policy_adopted":
        return f"{p['name']} v{p['version']} sha256 {p['sha256'][:12]}"
    if e.kind == "assessment":
        return f"model {p['model']['reference']}"
    if e.kind == "preliminary":
        due = (p.get("verdict") or {}).get("due")
        return f"model {(p.get('model') or {}).get('reference')}: comprehensive assessment " + (
            "due" if due else "not due"
        )
    if e.kind == "decision":
        return ", ".join(f"{a}={v['status']}" for a, v in p["decision"]["actions"].items())
    if "action" in p:
        return f"{p['action']} on decision {str(p.get('decision_entry'))[:12]}" + (
            f" as {p['role']}" if "role" in p else ""
        )
    return ""


@ledger_app.command("verify")
def verify(
    db: DbOpt = None,
    bundle: Annotated[Path | None, typer.Option(help="Verify an exported audit bundle instead.")] = None,
    anchor: Annotated[
        str | None,
        typer.Option(
            help="A head published earlier: SEQ:HASH (`ledger head`) or a signed file (`ledger checkpoint`)."
        ),
    ] = None,
) -> None:
    """Recompute the chain, signatures, key registry, decisions and sign-off order. Exit 4 on any problem."""
    from scalegate.ledger.verify import verify_entries

    pin = None
    anchor_file = None
    if anchor:
        seq, _, h = anchor.partition(":")
        if seq.isdigit() and len(h) == 64:
            pin = (int(seq), h)
        elif Path(anchor).is_file():
            try:
                anchor_file = json.loads(Path(anchor).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InputError(f"--anchor {anchor}: not a checkpoint file ({exc})") from exc
        else:
            raise InputError(
                "--anchor: expected SEQ:HASH (`scalegate ledger head`) or a checkpoint file "
                "(`scalegate ledger checkpoint`)"
            )
    if bundle is not None:
        from scalegate.ledger.audit import read_bundle

        rows, claimed_head, file_problems = read_bundle(bundle)
        source = str(bundle)
        pin = pin or claimed_head
        head = None  # a bundle's head is its manifest's claim, already the anchor
    else:
        ledger = open_ledger(db, read_only=True)
        rows, source = list(ledger.raw_rows()), ledger.url
        head = ledger.head()
        file_problems = []
    if anchor_file is not None:
        from scalegate.ledger.verify import checkpoint_anchor

        pin, checkpoint_problems = checkpoint_anchor(anchor_file, rows)
        file_problems = [*file_problems, *checkpoint_problems]
    problems = [*verify_entries(rows, pin, head=head), *file_problems]
    for p in problems:
        err.print(f"[red]problem[/] {_e(p)}")
    if problems:
        err.print(f"[bold red]{len(problems)} problem(s)[/] in {len(rows)} entries of {_e(source)}")
        raise typer.Exit(4)
    last = rows[-1] if rows else {}
    out.print(
        f"[green]ok[/] {len(rows)} entries of {_e(source)} verify; head "
        f"{last.get('seq', 0)}:{last.get('entry_hash', '-')} (compare with the published head)"
    )


@ledger_app.command("checkpoint")
def checkpoint(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The checkpoint file to write (new).")],
    db: DbOpt = None,
    key: KeyOpt = None,
) -> None:
    """Sign the ledger's head into a small file to publish (a transparency report, a regulator):
    `ledger verify --anchor FILE` then proves a later ledger still extends it, naming any
    truncated or rolled-back range."""
    from scalegate.ledger.verify import make_checkpoint
    from scalegate.ledger.workflow import OPERATOR, _require_role

    ledger = open_ledger(db)
    signer = _key(key)
    _require_role(ledger, signer, OPERATOR)
    seq, h = ledger.head()
    data = make_checkpoint(seq, h, signer, OPERATOR)
    if out_file.exists():
        raise InputError(f"--out {out_file} exists; checkpoints are never overwritten")
    out_file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    out.print(f"checkpoint of entry {seq} ({h[:16]}...) signed by {signer.key_id}: {_e(out_file)}")


@ledger_app.command("head")
def head(db: DbOpt = None) -> None:
    """Print SEQ:HASH of the newest entry: publish it, then `verify --anchor` detects any rewrite."""
    seq, h = open_ledger(db, read_only=True).head()
    sys.stdout.write(f"{seq}:{h}\n")


@ledger_app.command("status")
def status(
    decision_id: Annotated[
        str | None,
        typer.Argument(help="Decision entry id (or a unique prefix); default: the newest decision."),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Where each action of a decision stands: sign-offs so far, overrides, effective status."""
    from scalegate.ledger.workflow import action_status

    ledger = open_ledger(db, read_only=True)
    if decision_id is None:
        newest = next((e for e in reversed(ledger.entries()) if e.kind == "decision"), None)
        if newest is None:
            raise InputError("the ledger holds no decision yet: `scalegate assess` records one")
        decision_id = newest.entry_id
    print_override_flags(ledger)
    rows = [
        [
            name,
            s["decision"],
            ", ".join(s["needs"]),
            ", ".join(s["signed"]),
            ", ".join(s["refused"]),
            s["effective"],
        ]
        for name, s in action_status(ledger, decision_id).items()
    ]
    columns = ("action", "decision", "sign-off needed", "signed", "refused", "effective")
    print_records(out, f"Decision {decision_id}", columns, rows)


@ledger_app.command("record-action")
def record_action(decision_id: str, action: str, db: DbOpt = None, key: KeyOpt = None) -> None:
    """Record that an action was taken; refused unless the decision (with sign-offs) allows it."""
    from scalegate.ledger.workflow import record_action as record

    entry = record(open_ledger(db), decision_id, action, _key(key))
    out.print(f"recorded {_e(action)}: entry {entry.seq} ({entry.entry_id})")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="File name for the key under .scalegate/keys/.")],
    role: Annotated[
        list[str], typer.Option("--role", help="Role from the policy's governance (repeatable).")
    ],
    holder: Annotated[str, typer.Option(help="Who holds the key.")],
    admin_key: Annotated[
        Path | None, typer.Option(help="Admin key that authorises it (default: operator key).")
    ] = None,
    db: DbOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Register without asking (needed when not at a terminal).")
    ] = False,
) -> None:
    """Create an Ed25519 key under .scalegate/keys/ and register it in the ledger with its roles,
    countersigned by an admin key. Asks before the admin key signs, since whoever holds the new
    key can then sign as those roles; `--yes` confirms in scripts."""
    from scalegate.ledger import keys
    from scalegate.ledger.workflow import KEY_DIR, default_key_path, register

    ledger = open_ledger(db, create=True)
    admin = _key(admin_key) if ledger.head()[0] else None
    path = KEY_DIR / f"{name}.key"
    if path.exists():
        raise InputError(f"{path} exists; choose another name")
    if admin is not None and not yes:
        what = (
            f"the admin key {admin.key_id} ({admin_key or default_key_path()}) will register a new key "
            f"for role(s) {', '.join(role)} held by {holder!r}, saved unencrypted at {path}"
        )
        if not sys.stdin.isatty():
            raise InputError(f"keys create: {what}; pass --yes to confirm (there is no terminal to ask on)")
        if not typer.confirm(f"{what[0].upper()}{what[1:]}. Go on?", default=False, err=True):
            raise InputError("keys create: not confirmed; nothing was written")
    new = keys.generate()
    keys.save(new, path)
    entry = register(ledger, new, role, holder, admin)
    out.print(
        f"key {new.key_id} ({_e(', '.join(role))}) saved to {_e(path)}; registered as entry {entry.seq}"
    )


@keys_app.command("list")
def keys_list(db: DbOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Registered keys, their roles and standing."""
    from scalegate.ledger.workflow import registry

    reg = registry(open_ledger(db, read_only=True))
    if as_json:
        sys.stdout.write(json.dumps(reg, indent=2) + "\n")
        return
    rows = [
        [kid, k["holder"], ", ".join(k["roles"]), "revoked" if k["revoked"] else "active"]
        for kid, k in reg.items()
    ]
    print_records(out, "Keys", ("key id", "holder", "roles", "status"), rows)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str, reason: Annotated[str, typer.Option(help="Why.")], db: DbOpt = None, key: KeyOpt = None
) -> None:
    """Revoke a key (signed by an admin or by the key itself). Later signatures by it are invalid."""
    from scalegate.ledger.workflow import revoke

    entry = revoke(open_ledger(db), key_id, reason, _key(key))
    out.print(f"revoked {_e(key_id)}: entry {entry.seq}")


def signoff_cmd(
    decision_id: Annotated[str, typer.Argument(help="Decision entry id (or a unique prefix).")],
    role: Annotated[str, typer.Option(help="The role you sign in.")],
    action: Annotated[
        list[str], typer.Option("--action", help="Action(s) to sign (default: all that need this role).")
    ] = [],  # noqa: B006
    key: KeyOpt = None,
    comment: Annotated[str, typer.Option(help="Comment recorded with the sign-off.")] = "",
    refuse: Annotated[bool, typer.Option(help="Record a refusal to sign instead.")] = False,
    db: DbOpt = None,
) -> None:
    """Sign off a decision (or refuse to) in a role the policy names."""
    from scalegate.ledger.workflow import action_status, signoff

    ledger = open_ledger(db)
    signer = _key(key)
    wanted = action or [
        a
        for a, s in action_status(ledger, decision_id).items()
        if role in s["needs"] and s["decision"] == "needs_signoff"
    ]
    if not wanted:
        raise InputError(f"no action of decision {decision_id} awaits sign-off by '{role}'")
    for a in wanted:
        e = signoff(ledger, decision_id, a, role, signer, comment, refuse)
        out.print(f"{'refused' if refuse else 'signed'} {_e(a)} as {_e(role)}: entry {e.seq}")


def override_cmd(
    decision_id: str,
    action: Annotated[str, typer.Option(help="The action to allow despite the decision.")],
    justification: Annotated[str, typer.Option(help="Why; recorded and flagged in every later report.")],
    key: Annotated[list[str], typer.Option("--key", help="PATH:ROLE for each signer (repeatable).")],
    db: DbOpt = None,
) -> None:
    """Override a decision for one action; needs the roles the policy names for overrides."""
    from scalegate.ledger import keys
    from scalegate.ledger.workflow import override

    ledger = open_ledger(db)
    signers = []
    for spec in key:
        path, _, role = spec.rpartition(":")
        if not path or not role:
            raise InputError(f"--key {spec!r}: expected PATH:ROLE")
        signers.append((keys.load(Path(path)), role))
    e = override(ledger, decision_id, action, justification, signers)
    out.print(f"override of {_e(action)} recorded: entry {e.seq} ({e.entry_id})")


audit_app = typer.Typer(help="Audit bundles for third parties.", no_args_is_help=True)


@audit_app.command("export")
def audit_export(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write (must be new or empty).")],
    public: Annotated[bool, typer.Option(help="Redact the fields the policy marks restricted.")] = False,
    restrict: Annotated[list[str], typer.Option(help="Also redact KIND.FIELD (repeatable).")] = [],  # noqa: B006
    db: DbOpt = None,
    key: KeyOpt = None,
    sign: Annotated[
        bool,
        typer.Option(
            "--sign/--no-sign",
            help="Include checkpoint.json: the head signed by the operator key, where there is one.",
        ),
    ] = True,
) -> None:
    """Write a self-contained bundle that `ledger verify --bundle` checks on another machine.
    It carries the head signed by the operator key (`checkpoint.json`), so whoever publishes
    the bundle also publishes an anchor that detects a later rollback."""
    from typing import get_args

    from scalegate.ledger.audit import LedgerNotVerified, export
    from scalegate.ledger.records import EntryKind
    from scalegate.ledger.verify import make_checkpoint
    from scalegate.ledger.workflow import OPERATOR, _require_role, default_key_path

    for field in restrict:
        kind, dot, name = field.partition(".")
        if not dot or not name or kind not in get_args(EntryKind):
            raise InputError(
                f"--restrict {field!r}: expected KIND.FIELD, KIND one of {sorted(get_args(EntryKind))}"
            )
    ledger = open_ledger(db, read_only=True)
    checkpoint = None
    if sign and (key is not None or default_key_path().exists()):
        signer = _key(key)
        _require_role(ledger, signer, OPERATOR)
        seq, h = ledger.head()
        checkpoint = make_checkpoint(seq, h, signer, OPERATOR)
    elif sign:
        err.print(
            f"[yellow]no operator key[/] at {_e(default_key_path())}: the bundle carries no signed "
            "checkpoint (pass --key, or publish `scalegate ledger head` beside it)"
        )
    try:
        manifest = export(ledger, out_dir, public, set(restrict), checkpoint=checkpoint)
    except LedgerNotVerified as exc:
        for p in exc.problems:
            err.print(f"[red]problem[/] {_e(p)}")
        err.print(f"[bold red]not exported[/]: {_e(exc)}")
        raise typer.Exit(4) from None
    out.print(
        f"wrote {manifest['entries']} entries to {_e(out_dir)} (head {manifest['head']['seq']}:"
        f"{manifest['head']['hash'][:16]}...)"
        + (f"; redacted {manifest['redacted_fields']}" if public else "")
    )


def policy_propose(
    file: Annotated[str, typer.Argument(help="The new policy file.")], db: DbOpt = None, key: KeyOpt = None
) -> None:
    """Propose a new policy version: records its text, its diff and the approvals and notice it needs."""
    from scalegate.ledger.workflow import propose_policy
    from scalegate.policy import load_policy

    e = propose_policy(open_ledger(db), load_policy(file), _key(key))
    p = e.payload
    out.print(
        f"proposal {e.entry_id}: {_e(p['name'])} v{_e(p['version'])}; needs approval by "
        f"{p['approve_roles'] or 'nobody'}; adoptable from {p['effective_not_before']}"
    )
    for line in p["diff"]:
        out.print(f"  {_e(line)}")


def policy_approve(
    proposal_id: str,
    role: Annotated[str, typer.Option(help="The role you approve in.")],
    db: DbOpt = None,
    key: KeyOpt = None,
) -> None:
    """Approve a policy proposal in a role the policy in force names for changes."""
    from scalegate.ledger.workflow import approve_policy

    e = approve_policy(open_ledger(db), proposal_id, role, _key(key))
    out.print(f"approved as {_e(role)}: entry {e.seq}")


def policy_adopt(proposal_id: str, db: DbOpt = None, key: KeyOpt = None) -> None:
    """Adopt a proposed policy once its approvals are in and its notice period has run."""
    from scalegate.ledger.workflow import adopt_policy

    e = adopt_policy(open_ledger(db), proposal_id, _key(key))
    out.print(f"adopted {_e(e.payload['name'])} v{_e(e.payload['version'])}: entry {e.seq}")


@audit_app.command("statement")
def audit_statement_cmd(
    text: Annotated[str, typer.Option(help="The statement.")],
    scope: Annotated[str, typer.Option(help="What was audited.")] = "ledger",
    role: Annotated[str, typer.Option(help="The role you sign in.")] = "auditor",
    key: KeyOpt = None,
    db: DbOpt = None,
) -> None:
    """Record an external audit statement, signed by a key in the auditor role."""
    from scalegate.ledger.workflow import audit_statement

    e = audit_statement(open_ledger(db), text, scope, _key(key), role)
    out.print(f"audit statement recorded: entry {e.seq}, covering entries 1..{e.payload['covers']['seq']}")


@ledger_app.command("report")
def report_cmd(
    text: Annotated[str, typer.Option(help="What happened.")],
    reporter: Annotated[str | None, typer.Option(help="Your name; omit to report anonymously.")] = None,
    key: KeyOpt = None,
    db: DbOpt = None,
) -> None:
    """File a noncompliance report (anonymous unless --reporter is given)."""
    from scalegate.ledger.workflow import report_noncompliance

    e = report_noncompliance(open_ledger(db), text, _key(key), reporter)
    out.print(f"noncompliance report recorded: entry {e.seq}")


def print_override_flags(ledger) -> None:  # type: ignore[no-untyped-def]
    """Overrides stay visible: every report that reads the ledger lists them."""
    from scalegate.ledger.workflow import overrides_on_record

    for e in overrides_on_record(ledger):
        p = e.payload
        err.print(
            f"[bold yellow]OVERRIDE on record[/] entry {e.seq}: {p['action']} on decision "
            f"{p['decision_entry'][:12]} by {_e(', '.join(p['required_roles']))}: {_e(p['justification'])}"
        )
