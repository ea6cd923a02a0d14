"""The status page: an overview at a glance, and a page per cycle (server-rendered HTML).

Reads go to `StatusQueries` (the read side); the page never writes except the login session.
Dutch or English by `?lang=`, then the browser's Accept-Language, then POP_LANGUAGE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from handlers.actor import Role
from handlers.history import HistoryEntry, cycle_history
from web.access import may_see, viewer_side, visibility
from web.i18n import LANGUAGES, pick_language, text
from web.page.cache import OverviewCache
from web.page.format import Labels, register_filters, support_text
from web.page.login import CSRF_FIELD, csrf_ok, csrf_token, log_in, log_out, logged_in
from web.queries import PageNumbers
from web.services import services
from workflow.errors import NotFound
from workflow.privacy import visible_talking_points

page = Blueprint("page", __name__)
register_filters(page)
#: Rows per list: a glance (and a phone's screen); the pagers lead on. Each row costs the page
#: about as much as its queries together (bench/web.py).
PER_PAGE = 10
_CACHE = "popcycle.overviews"


def _lang() -> str:
    requested = request.args.get("lang")
    if requested in LANGUAGES:
        session["lang"] = requested
    chosen = session.get("lang") if isinstance(session.get("lang"), str) else None
    default = services().popcycle.settings.language
    return pick_language(chosen, list(request.accept_languages), default)


@page.context_processor
def _helpers() -> dict[str, Any]:
    lang = _lang()
    return {
        "lang": lang,
        "t": lambda key, **values: text(key, lang, **values),
        "labels": Labels(lang),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token,
        "support_text": lambda support: support_text(support, lang),
    }


def _number(name: str) -> int:
    raw = request.args.get(name, "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


@page.get("/login")
def login_form() -> str:
    return render_template("login.html", error=None)


@page.post("/login")
def login() -> BaseResponse | tuple[str, int]:
    if not csrf_ok():
        return render_template("login.html", error="bad_form"), 400
    if log_in(request.form.get("token", "")) is None:
        return render_template("login.html", error="bad_token"), 401
    return redirect(url_for("page.status"))


@page.post("/logout")
def logout() -> BaseResponse | tuple[str, int]:
    if not csrf_ok():
        return render_template("login.html", error="bad_form"), 400
    log_out()
    return redirect(url_for("page.login_form"))


@page.get("/")
def status() -> BaseResponse | str:
    """Counts per phase, overdue and due-soon cycles, managers over capacity, all cycles.

    The overview is rendered again only when it may have changed (`web/page/cache.py`): for
    each viewer, language and query string, while the read models' checkpoints stand still
    and no due date has passed, the rendered one is served.
    """
    principal = logged_in()
    if principal is None:
        return redirect(url_for("page.login_form"))
    web = services()
    queries = web.queries
    now = web.popcycle.clock()
    args = request.args.to_dict()
    key = (principal.role, principal.subject_id, _lang(), tuple(sorted(args.items())))
    cache = _overview_cache()
    html = cache.get(key, queries.version(), now) if key in cache else None
    if html is None:
        where = visibility(
            principal,
            manager_id=args.get("manager") or None,
            department=args.get("department") or None,
        )
        numbers = PageNumbers(_number("overdue_page"), _number("due_page"), _number("page"))
        hr = principal.role is Role.HR
        overview = queries.overview(where, now, numbers, PER_PAGE, capacity=hr)
        html = render_template(
            "_overview.html", principal=principal, where=where, overview=overview, args=args
        )
        cache.put(key, overview.version, overview.valid_until, html)
    content = Markup(html)  # noqa: S704 - our own template's output, escaped as it was rendered
    return render_template("status.html", principal=principal, overview_html=content)


def _overview_cache() -> OverviewCache:
    """This app's cache of rendered overviews (one per app: tests run several)."""
    cache = current_app.extensions.get(_CACHE)
    if cache is None:
        cache = current_app.extensions.setdefault(_CACHE, OverviewCache())
    return cast(OverviewCache, cache)


@page.get("/cycles/<cycle_id>")
def cycle(cycle_id: str) -> BaseResponse | str | tuple[str, int]:
    """The plan in the syllabus' own table, with signatures, and the whole history."""
    principal = logged_in()
    if principal is None:
        return redirect(url_for("page.login_form"))
    web = services()
    repository = web.popcycle.repository
    try:
        state = repository.cycle(cycle_id)
    except NotFound:
        abort(404)
    if not may_see(principal, state):
        abort(404)
    now = web.popcycle.clock()
    history = cycle_history(repository, cycle_id)
    people = {pid: web.queries.person(pid) for pid in (state.employee_id, state.manager_id)}
    return render_template(
        "cycle.html",
        principal=principal,
        state=state,
        people=people,
        talking_points=visible_talking_points(state, viewer_side(principal), now),
        history=history,
        signed_on=_signed_on(history, state.plan_version),
    )


def _signed_on(history: list[HistoryEntry], plan_version: int) -> dict[str, datetime]:
    """When each side signed the current plan version (the syllabus' signature block)."""
    return {
        str(entry.data["signer"]): entry.at
        for entry in history
        if entry.type == "PlanSigned" and entry.data.get("plan_version") == plan_version
    }
