"""`scalegate serve`: the ledger as live, read-only web pages (Starlette, Jinja2)."""
