"""The safe media viewer: the only way a stored file reaches a browser, one item at a time, audited.

Routes (staff pages; the login redirect is ``webkit.kit``'s, the CSRF check the app's guard):

- ``GET /media/{attachment_id}``: the file's hashes and, when the file was kept and is an image or a
  video, a BLURRED GREYSCALE preview (``<img src=".../preview.png">``) and a button to see it unblurred.
  Nothing is shown when the installation keeps hashes only (``media_mode = hashes_only``) or the file
  was not kept: the page says so.
- ``GET /media/{attachment_id}/preview.png``: the preview, made on the server with Pillow (greyscale,
  shrunk to at most 256 px, pixelated to about 24 px across, then a heavy Gaussian blur); for a video,
  one frame (the one vPDQ rated best). Audited as ``media.preview``. ``Cache-Control: no-store``.
- ``POST /media/{attachment_id}/view`` (CSRF token): the same page with the picture in greyscale, NOT
  blurred, at most 1024 px, embedded in the page itself (a ``data:`` URI), so there is no URL that serves
  it again. Audited as ``media.view``. ``Cache-Control: no-store``.

Never: a link to the original bytes, colour, a download, several files on one page, caching headers that
allow a copy to stay in the browser. (Strict CSP note: the unblurred picture needs ``img-src 'self'
data:``.)
"""

from __future__ import annotations

import base64
import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from tipline.accounts.service import Principal
from tipline.i18n.templating import render
from tipline.media import hashing, storage
from tipline.media.preview import preview_image
from tipline.media.viewing import MediaItem, NoMedia, media_item, render_for
from tipline.store import Database
from tipline.webkit.deps import app_db
from tipline.webkit.kit import PageRoute, page_user

__all__ = ["MediaItem", "media_item", "preview_image", "router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
StaffUser = Annotated[Principal, Depends(page_user)]
Db = Annotated[Database, Depends(app_db)]


# ------------------------------------------------------------------------------------------ routes


def _page(
    request: Request,
    item: MediaItem,
    *,
    unblurred: str | None = None,
    problem: bool = False,
    status_code: int = 200,
) -> Response:
    ctx: dict[str, Any] = {
        "item": item,
        "unblurred": unblurred,
        "problem": problem,
        "video_preview": item.kind != "video" or shutil.which("ffmpeg") is not None,
    }
    return render(request, "media/viewer_item.html", ctx, status_code=status_code, no_store=True)


def _error(request: Request, status: int, attachment_id: int) -> Response:
    """An error page whose wording is in the template (so the message catalogue sees it)."""
    ctx = {"status": status, "attachment_id": attachment_id}
    return render(request, "media/viewer_error.html", ctx, status_code=status, no_store=True)


@router.get("/media/{attachment_id}", response_class=HTMLResponse)
def media_page(request: Request, attachment_id: int, db: Db, user: StaffUser) -> Response:
    try:
        item = media_item(db, attachment_id)
    except NoMedia:
        return _error(request, 404, attachment_id)
    return _page(request, item)


@router.get("/media/{attachment_id}/preview.png")
def media_preview(request: Request, attachment_id: int, db: Db, user: StaffUser) -> Response:
    try:
        item = media_item(db, attachment_id)
        png = render_for(db, user, item, blurred=True)
    except NoMedia:
        return _error(request, 404, attachment_id)
    except (hashing.MediaError, storage.MediaStorageError):
        return _error(request, 422, attachment_id)
    return Response(
        png,
        media_type="image/png",
        headers={"Cache-Control": "no-store", "Content-Disposition": "inline; filename=preview.png"},
    )


@router.post("/media/{attachment_id}/view", response_class=HTMLResponse)
def media_view(request: Request, attachment_id: int, db: Db, user: StaffUser) -> Response:
    try:
        item = media_item(db, attachment_id)
        png = render_for(db, user, item, blurred=False)
    except NoMedia:
        return _error(request, 404, attachment_id)
    except (hashing.MediaError, storage.MediaStorageError):
        return _page(request, media_item(db, attachment_id), problem=True, status_code=422)
    return _page(request, item, unblurred="data:image/png;base64," + base64.b64encode(png).decode())
