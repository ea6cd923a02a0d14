"""Every text a person reads on the page and in the calendar, in Dutch and English.

A plain table rather than gettext catalogues: a few dozen strings, reviewed side by side, no
build step. `text(key, lang)` falls back to English for a missing Dutch entry (a test checks
that none is missing).
"""

from __future__ import annotations

LANGUAGES = ("nl", "en")

TEXTS: dict[str, dict[str, str]] = {
    "title": {"nl": "POP-cycli", "en": "POP cycles"},
    "skip": {"nl": "Naar de inhoud", "en": "Skip to content"},
    "login_title": {"nl": "Inloggen", "en": "Log in"},
    "login_help": {
        "nl": "Plak het token dat HR met `pop token create` voor u maakte.",
        "en": "Paste the token HR made for you with `pop token create`.",
    },
    "token": {"nl": "Token", "en": "Token"},
    "login": {"nl": "Inloggen", "en": "Log in"},
    "logout": {"nl": "Uitloggen", "en": "Log out"},
    "bad_token": {"nl": "Dit token is onbekend of ingetrokken.", "en": "Unknown or revoked token."},
    "bad_form": {
        "nl": "Het formulier is verlopen; probeer het opnieuw.",
        "en": "The form expired; please try again.",
    },
    "signed_in_as": {"nl": "Ingelogd als", "en": "Signed in as"},
    "phases": {"nl": "Cycli per fase", "en": "Cycles per phase"},
    "overdue": {"nl": "Te laat (oudste eerst)", "en": "Overdue (oldest first)"},
    "due_soon": {"nl": "Binnen 30 dagen", "en": "Due in the next 30 days"},
    "capacity": {
        "nl": "Managers boven hun jaarlijkse POP-capaciteit",
        "en": "Managers over their yearly POP capacity",
    },
    "capacity_none": {"nl": "Niemand.", "en": "Nobody."},
    "hours": {"nl": "uur", "en": "hours"},
    "reports": {"nl": "medewerkers", "en": "reports"},
    "all_cycles": {"nl": "Alle cycli", "en": "All cycles"},
    "none": {"nl": "Geen.", "en": "None."},
    "filter": {"nl": "Filteren", "en": "Filter"},
    "manager": {"nl": "Leidinggevende", "en": "Manager"},
    "department": {"nl": "Afdeling", "en": "Department"},
    "all": {"nl": "Alle", "en": "All"},
    "employee": {"nl": "Medewerker", "en": "Employee"},
    "phase": {"nl": "Fase", "en": "Phase"},
    "due": {"nl": "Wanneer", "en": "When"},
    "what": {"nl": "Wat", "en": "What"},
    "previous": {"nl": "Vorige", "en": "Previous"},
    "next": {"nl": "Volgende", "en": "Next"},
    "page_of": {"nl": "Pagina {n} van {of}", "en": "Page {n} of {of}"},
    "cycle": {"nl": "Cyclus", "en": "Cycle"},
    "back": {"nl": "Terug naar het overzicht", "en": "Back to the overview"},
    "interview_at": {"nl": "POP-gesprek", "en": "POP interview"},
    "reason": {"nl": "Aanleiding", "en": "Reason"},
    "plan": {"nl": "Persoonlijk ontwikkelingsplan", "en": "Personal development plan"},
    "plan_version": {"nl": "versie", "en": "version"},
    "no_plan": {"nl": "Nog geen plan.", "en": "No plan yet."},
    "col_goal": {"nl": "Ontwikkelingsdoel", "en": "Development goal"},
    "col_activity": {"nl": "Ontwikkelingsactiviteit", "en": "Development activity"},
    "col_result": {"nl": "Gewenst resultaat", "en": "Desired result"},
    "col_planning": {"nl": "Planning", "en": "Planning"},
    "col_support": {
        "nl": "Benodigde ondersteuning en faciliteiten",
        "en": "Support and facilities needed",
    },
    "col_status": {"nl": "Stand", "en": "Status"},
    "signatures": {"nl": "Ondertekening", "en": "Signatures"},
    "signed": {"nl": "getekend", "en": "signed"},
    "not_signed": {"nl": "nog niet getekend", "en": "not signed yet"},
    "history": {"nl": "Geschiedenis", "en": "History"},
    "on_behalf_of": {"nl": "namens", "en": "on behalf of"},
    "own_hours": {"nl": "eigen uren", "en": "own hours"},
    "coach_hours": {"nl": "uren begeleiding", "en": "coaching hours"},
    "budget": {"nl": "budget", "en": "budget"},
    "coach": {"nl": "begeleider", "en": "coach"},
    "materials": {"nl": "leermiddelen", "en": "materials"},
    "short": {"nl": "korte termijn", "en": "short term"},
    "medium": {"nl": "middellange termijn", "en": "medium term"},
    "not_found": {"nl": "Niet gevonden.", "en": "Not found."},
    "language": {"nl": "Taal", "en": "Language"},
    # phases
    "invitation": {"nl": "Uitnodiging", "en": "Invitation"},
    "preparation": {"nl": "Voorbereiding", "en": "Preparation"},
    "interview": {"nl": "Gesprek", "en": "Interview"},
    "agreement": {"nl": "Afspraken", "en": "Agreement"},
    "progress_review": {"nl": "Voortgang", "en": "Progress review"},
    "evaluation": {"nl": "Evaluatie", "en": "Evaluation"},
    "completed": {"nl": "Afgerond", "en": "Completed"},
    "cancelled": {"nl": "Geannuleerd", "en": "Cancelled"},
    # reasons
    "periodic": {"nl": "periodiek onderhoud", "en": "periodic maintenance"},
    "problem": {"nl": "probleemsignalering", "en": "problem signalled"},
    "on_demand": {"nl": "naar behoefte", "en": "on demand"},
    # due steps
    "due_schedule_interview": {"nl": "gesprek inplannen", "en": "schedule the interview"},
    "due_interview": {"nl": "POP-gesprek", "en": "POP interview"},
    "due_write_plan": {"nl": "plan opstellen", "en": "write the plan"},
    "due_sign_plan": {"nl": "plan ondertekenen", "en": "sign the plan"},
    "due_goal_deadline": {"nl": "deadline van een doel", "en": "a goal's deadline"},
    "due_preparation": {"nl": "gesprekspunten uitwisselen", "en": "exchange talking points"},
    "due_evaluation": {"nl": "evaluatie", "en": "evaluation"},
    "signed_on": {"nl": "getekend op", "en": "signed on"},
    # history entries (the event type stays beside them, for auditors)
    "ev_CycleStarted": {"nl": "Cyclus gestart", "en": "Cycle started"},
    "ev_PreparationSubmitted": {"nl": "Gesprekspunten ingediend", "en": "Talking points sent"},
    "ev_InterviewScheduled": {"nl": "Gesprek gepland", "en": "Interview scheduled"},
    "ev_InterviewHeld": {"nl": "Gesprek gevoerd", "en": "Interview held"},
    "ev_PlanDrafted": {"nl": "Plan opgesteld", "en": "Plan written"},
    "ev_PlanSigned": {"nl": "Plan ondertekend", "en": "Plan signed"},
    "ev_ProgressReviewed": {"nl": "Voortgang besproken", "en": "Progress reviewed"},
    "ev_EvaluationDue": {"nl": "Evaluatie aan de beurt", "en": "Evaluation due"},
    "ev_EvaluationRecorded": {"nl": "Evaluatie vastgelegd", "en": "Evaluation recorded"},
    "ev_CycleRestarted": {"nl": "Nieuwe cyclus gestart", "en": "Next cycle started"},
    "ev_CycleCancelled": {"nl": "Cyclus geannuleerd", "en": "Cycle cancelled"},
    "ev_CycleManagerChanged": {"nl": "Andere leidinggevende", "en": "Manager changed"},
    "ev_FollowUpFired": {"nl": "Herinnering verstuurd", "en": "Reminder sent"},
    # goal status
    "open": {"nl": "loopt", "en": "open"},
    "done": {"nl": "klaar", "en": "done"},
    "achieved": {"nl": "bereikt", "en": "achieved"},
    "missed": {"nl": "niet bereikt", "en": "missed"},
    # calendar
    "cal_name": {"nl": "POP-agenda", "en": "POP calendar"},
    "cal_interview": {"nl": "POP-gesprek", "en": "POP interview"},
    "cal_goal_deadline": {"nl": "Deadline POP-doel: {title}", "en": "POP goal deadline: {title}"},
    "cal_review": {"nl": "POP-voortgangsgesprek", "en": "POP progress review"},
    "cal_evaluation": {"nl": "POP-evaluatie", "en": "POP evaluation"},
}


def text(key: str, lang: str, **values: object) -> str:
    """The text for `key` in `lang` (English if missing), with `{name}` filled in."""
    entry = TEXTS.get(key)
    if entry is None:
        return key
    found = entry.get(lang) or entry["en"]
    return found.format(**values) if values else found


def pick_language(requested: str | None, accept: list[tuple[str, float]], default: str) -> str:
    """An explicit choice wins, then the browser's Accept-Language, then POP_LANGUAGE."""
    if requested in LANGUAGES:
        return requested
    for tag, _quality in accept:
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return default
