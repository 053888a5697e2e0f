"""Staff pages of the shift: claim and assign a report, bulk actions on the queue, saved filters,
notifications (overdue reports). Each form posts ``csrf_token`` (checked by the app-wide guard) and
answers with a redirect back to where it came from (``next``, a local path), so a reload changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tipline.errors import Conflict, NotFound
from tipline.i18n import gettext_for, negotiate
from tipline.intake.schemas import Status
from tipline.reports import shift
from tipline.webkit.kit import Db, PageRoute, StaffUser, clean_text, error_page

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _back(next_: str, fallback: str) -> str:
    """A local path to go back to (never another site)."""
    if next_.startswith("/") and not next_.startswith("//") and "\\" not in next_ and len(next_) < 2000:
        return next_
    return fallback


@router.post("/reports/{report_id}/claim", response_class=HTMLResponse)
def claim(request: Request, report_id: int, db: Db, user: StaffUser, next: Annotated[str, Form()] = "") -> Response:
    _ = gettext_for(negotiate(request))
    try:
        shift.claim(db, report_id, user)
    except NotFound:
        return error_page(request, 404, _("There is no report %(id)s.") % {"id": report_id})
    except Conflict:
        return error_page(
            request,
            409,
            _("Someone else has already claimed report %(id)s. Ask them, or assign it.") % {"id": report_id},
        )
    return RedirectResponse(_back(next, f"/reports/{report_id}"), status_code=303)


@router.post("/reports/{report_id}/assign", response_class=HTMLResponse)
def assign(
    request: Request,
    report_id: int,
    db: Db,
    user: StaffUser,
    assignee: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(negotiate(request))
    try:
        shift.assign(db, report_id, user, int(assignee) if assignee.isdigit() else None)
    except NotFound:
        return error_page(request, 404, _("There is no such report or staff member. Reload the page."))
    return RedirectResponse(_back(next, f"/reports/{report_id}"), status_code=303)


@router.post("/queue/bulk", response_class=HTMLResponse)
def bulk(
    request: Request,
    db: Db,
    user: StaffUser,
    ids: Annotated[list[str] | None, Form()] = None,
    status: Annotated[str, Form()] = "",
    assignee: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Change the chosen reports at once (status, owner, a label): one audit event for the action."""
    _ = gettext_for(negotiate(request))
    report_ids = [int(x) for x in ids or [] if x.isdigit()]
    if not report_ids:
        return error_page(request, 422, _("Choose at least one report (tick its box), then the change."))
    try:
        new_status = Status(status) if status else None
    except ValueError:
        return error_page(request, 422, _("Choose a status from the list."))
    try:
        shift.bulk(
            db,
            report_ids,
            user,
            status=new_status,
            assignee=user.id if assignee == "me" else int(assignee) if assignee.isdigit() else None,
            unassign=assignee == "none",
            label=clean_text(label).strip() or None,
        )
    except NotFound:
        return error_page(request, 404, _("A chosen report or staff member does not exist. Reload the page."))
    except ValueError:
        return error_page(
            request, 422, _("Choose a status, an owner or a label (1 to 40 characters) for the chosen reports.")
        )
    return RedirectResponse(_back(next, "/queue"), status_code=303)


@router.post("/queue/filters", response_class=HTMLResponse)
def save_filter(
    request: Request,
    db: Db,
    user: StaffUser,
    name: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(negotiate(request))
    try:
        shift.save_filter(db, user, clean_text(name), clean_text(query))
    except ValueError:
        return error_page(request, 422, _("Give the filter a name of 1 to 100 characters."))
    return RedirectResponse("/queue?" + query.lstrip("?") if query else "/queue", status_code=303)


@router.post("/queue/filters/{filter_id}/delete", response_class=HTMLResponse)
def delete_filter(request: Request, filter_id: int, db: Db, user: StaffUser) -> Response:
    shift.delete_filter(db, user, filter_id)
    return RedirectResponse("/queue", status_code=303)


@router.post("/notifications/read", response_class=HTMLResponse)
def read_notifications(request: Request, db: Db, user: StaffUser, next: Annotated[str, Form()] = "") -> Response:
    shift.mark_read(db, user)
    return RedirectResponse(_back(next, "/queue"), status_code=303)
