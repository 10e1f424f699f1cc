"""`scalegate serve`: the ledger as live web pages; `scalegate serve token create`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from scalegate.cli_ledger import DbOpt, open_ledger

err = Console(stderr=True)
serve_app = typer.Typer(help="A read-only web view of the ledger, live.", no_args_is_help=False)
token_app = typer.Typer(help="Access tokens for `scalegate serve` (stored hashed).", no_args_is_help=True)
serve_app.add_typer(token_app, name="token")

TokensOpt = Annotated[
    Path,
    typer.Option("--tokens", help="The token file (digests only; created by `serve token create`)."),
]


@serve_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Bind address; non-loopback needs a token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    tokens: TokensOpt = Path(".scalegate") / "serve-tokens.json",
    reverify: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Minutes between background re-verifications of the whole chain (new entries are "
            "verified as they arrive; a sweep also catches an old row edited in place).",
        ),
    ] = 10.0,
) -> None:
    """Serve the ledger read-only: the policy in force, each model line's newest decision per
    action and who still has to sign, overrides, the ledger page by page with each entry's
    verification, and every decision's reports rendered in place. Pages follow the ledger
    live. On 127.0.0.1 with no tokens it is open to this machine; any other --host needs a
    token (`scalegate serve token create --role internal|public`), sent as a Bearer token or
    as the password of the browser's login prompt. The `public` role sees only what
    `audit export --public` shows."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from scalegate.serve.access import for_bind
    from scalegate.serve.app import create_app

    access = for_bind(host, tokens)
    ledger = open_ledger(db, read_only=True)
    app = create_app(ledger, access, full_every=reverify * 60)
    mode = "open to this machine" if access.open else f"{len(access.tokens)} token(s) from {tokens}"
    err.print(f"[green]serving[/] {escape(ledger.url)} on http://{escape(host)}:{port} ({escape(mode)})")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="internal (everything) or public (what a public bundle shows).")],
    name: Annotated[str | None, typer.Option(help="A name for it (default: role-N).")] = None,
    tokens: TokensOpt = Path(".scalegate") / "serve-tokens.json",
) -> None:
    """Create a token; it is printed once and stored only as a salted digest."""
    from scalegate.serve.access import create_token, load_tokens

    label = name or f"{role}-{len(load_tokens(tokens)) + 1}"
    token = create_token(tokens, label, role)
    where = escape(str(tokens))
    err.print(f"[green]token[/] {escape(label)} ({escape(role)}) stored hashed in {where}; shown once:")
    typer.echo(token)
