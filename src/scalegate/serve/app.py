"""`scalegate serve`: a read-only web view of the ledger (Starlette, server-rendered Jinja2).

Only GET routes exist, so there is no state to forge a request against (CSRF-safe by having
nothing to change); signing stays in the CLI with the user's key, and the pages show the exact
command. Every response carries a Content-Security-Policy that allows nothing from outside
the origin and no inline script; the one script (`static/live.js`) polls `/api/head` and
swaps the page's main element in place when the ledger moves, so a new assessment or a
changed decision shows within seconds without a reload.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from scalegate.errors import ScalegateError
from scalegate.report import render
from scalegate.report.kinds import KINDS
from scalegate.report.sources import from_ledger
from scalegate.serve import views
from scalegate.serve.access import Access, Role
from scalegate.serve.live import FULL_EVERY_SECONDS, LiveChain, Verified

SECURITY_HEADERS = {
    # matplotlib's SVG carries a <style>: inline styles, never inline script
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
Next = Callable[[Request], Awaitable[Response]]
STATIC = {"live.js": "text/javascript", "serve.css": "text/css"}


class _Snapshots:
    """One snapshot per role, built again only when the ledger's head moves (the chain itself
    verified incrementally by `LiveChain`)."""

    def __init__(self, ledger: Any, full_every: float) -> None:
        self.ledger = ledger
        self.chain = LiveChain(ledger, full_every)
        self._lock = threading.Lock()
        self._cache: dict[Role, views.Snapshot] = {}

    def get(self, role: Role) -> views.Snapshot:
        with self._lock:
            reading = self.chain.current()
            snap = self._cache.get(role)
            if snap is None or _moved(snap.reading, reading):
                snap = self._cache[role] = views.snapshot(self.ledger, reading, role)
            return snap


def _moved(seen: Verified, now: Verified) -> bool:
    """Whether a page shows something else now: another head, other problems, a newer sweep."""
    return (seen.head, seen.problems, seen.full_at) != (now.head, now.problems, now.full_at)


def create_app(ledger: Any, access: Access, full_every: float = FULL_EVERY_SECONDS) -> Starlette:
    snapshots = _Snapshots(ledger, full_every)
    routes = [
        Route("/", overview),
        Route("/ledger", ledger_page),
        Route("/policy", policy),
        Route("/model", model),
        Route("/decision/{decision_id}", decision),
        Route("/decision/{decision_id}/{kind}", decision),
        Route("/api/head", head),
        Route("/static/{name}", static),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, access=access, snapshots=snapshots)])
    app.state.env = render.environment("scalegate.serve")
    app.state.css = render.template_text("report.css")
    return app


def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A template rendered over the role's snapshot."""
    state = request.app.state
    html = state.env.get_template(template).render(
        snap=request.state.snap, role=request.state.role, css=state.css, **values
    )
    return HTMLResponse(html, status_code=status_code)


async def overview(request: Request) -> Response:
    return page(request, "overview.html.j2", view=views.overview(request.state.snap))


async def ledger_page(request: Request) -> Response:
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        number = 1
    q = request.query_params
    chosen = views.Filters(
        kind=q.get("kind") or None,
        role=q.get("role") or None,
        model=q.get("model") or None,
        since=q.get("since") or None,
        until=q.get("until") or None,
    )
    return page(request, "ledger.html.j2", view=views.ledger_page(request.state.snap, number, chosen))


async def decision(request: Request) -> Response:
    snap: views.Snapshot = request.state.snap
    kind = request.path_params.get("kind", "capability")
    if kind not in KINDS:
        return PlainTextResponse(f"no report kind {kind!r}", status_code=404)
    if not snap.intact:
        return page(request, "refused.html.j2", why="the ledger does not verify; no report is built on it")
    try:
        src = from_ledger(snap.facts, snap.withheld, request.path_params["decision_id"])
        line = {"model": src.model.reference} if kind == "history" and src.model else {}
        doc = KINDS[kind].build(src, **line)
    except ScalegateError as exc:
        return page(request, "refused.html.j2", why=str(exc), status_code=404)
    return page(
        request,
        "decision.html.j2",
        doc=doc,
        numbers=render.numbering(doc),
        titles={s.id: s.title for s in doc.sections},
        kinds=list(KINDS),
        kind=kind,
        decision_id=src.decision_id,
    )


async def model(request: Request) -> Response:
    snap: views.Snapshot = request.state.snap
    reference = request.query_params.get("ref", "")
    view = views.model_line(snap, reference)
    if view is None:
        why = f"no decision on a model {reference!r} is shown to the {request.state.role} role"
        return page(request, "refused.html.j2", why=why, status_code=404)
    doc, why = None, "the ledger does not verify; no history is drawn from it"
    if snap.intact:  # the history plot is a report: never built on a chain that fails
        try:
            src = from_ledger(snap.facts, snap.withheld, view["rows"][0]["decision"].entry_id)
            doc = KINDS["history"].build(src, model=reference, exact=True)
        except ScalegateError as exc:
            why = str(exc)
    numbers = render.numbering(doc) if doc else {}
    titles = {s.id: s.title for s in doc.sections} if doc else {}
    return page(request, "model.html.j2", view=view, doc=doc, why=why, numbers=numbers, titles=titles)


async def policy(request: Request) -> Response:
    return page(request, "policy.html.j2", view=views.policy_page(request.state.snap))


async def head(request: Request) -> Response:
    seq, entry_hash = request.state.snap.head
    return JSONResponse({"seq": seq, "hash": entry_hash, "intact": request.state.snap.intact})


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return PlainTextResponse("not found", status_code=404)
    body = resources.files("scalegate.serve").joinpath("static", name).read_text(encoding="utf-8")
    return Response(body, media_type=STATIC[name])


class Guard(BaseHTTPMiddleware):
    """Authenticate, take the role's snapshot, and set the security headers on every reply."""

    def __init__(self, app: Any, access: Access, snapshots: _Snapshots) -> None:
        super().__init__(app)
        self.access = access
        self.snapshots = snapshots

    async def dispatch(self, request: Request, call_next: Next) -> Response:
        role = self.access.role_of(request.headers.get("authorization"))
        if role is None:
            response: Response = PlainTextResponse(
                "authentication required: a token from `scalegate serve token create`",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="scalegate", charset="UTF-8"'},
            )
        else:
            request.state.role = role
            if not request.url.path.startswith("/static/"):
                request.state.snap = self.snapshots.get(role)
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response
