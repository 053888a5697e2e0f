"""Pictures that are not RGB or grey (palette GIF/PNG, CMYK JPEG): python-threatexchange, and so HMA, hashes
the pixels as stored where tipline converts to RGB first (the Java reference's way). A bank filled by those
tools must still match: intake keeps the stored-pixels hash (``pdq_raw``) and the matcher queries it.
Checked against python-threatexchange itself."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes

from helpers import bearer
from tipline.intake import service as intake
from tipline.intake.schemas import Category, FileIn, ReportIn, Source
from tipline.media import banks, files
from tipline.media.hashing import hash_bytes, pdq_hamming
from tipline.media.models import LABEL_ABUSE, HashMatch


def _picture() -> Image.Image:
    x, y = np.meshgrid(np.linspace(0, 1, 400), np.linspace(0, 1, 300))
    rgb = np.stack([np.sin(6 * x + 1) * 0.5 + 0.5, np.cos(5 * y + 2 * x) * 0.5 + 0.5, x * y], axis=2) * 255
    return Image.fromarray(rgb.astype(np.uint8))


def _encoded(mode: str, fmt: str) -> bytes:
    img = _picture()
    img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=256) if mode == "P" else img.convert(mode)
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(("mode", "fmt"), [("P", "GIF"), ("P", "PNG"), ("CMYK", "JPEG")])
def test_the_stored_pixels_hash_is_python_threatexchange_s(mode, fmt):
    data = _encoded(mode, fmt)
    theirs, quality = pdq_from_bytes(data)
    ours = hash_bytes(data)
    assert quality >= 50 and pdq_hamming(ours.pdq, theirs) > 31  # the two ways disagree on these pictures
    assert ours.pdq_raw == theirs
    assert ours.as_details()["pdq_raw"] == theirs


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_rgb_and_grey_pictures_have_one_hash(mode):
    data = _encoded(mode, "PNG")
    ours = hash_bytes(data)
    assert ours.pdq == pdq_from_bytes(data)[0] and ours.pdq_raw is None


def test_a_palette_gif_matches_a_bank_hashed_by_python_threatexchange(client, db, platform):
    gif = _encoded("P", "GIF")
    theirs, quality = pdq_from_bytes(gif)
    banks.create_bank(db, "FromHMA", default_label=LABEL_ABUSE)
    banks.import_file(db, "FromHMA", f"pdq,{theirs}:{quality}\n".encode(), filename="l.csv")
    r = client.post("/api/v1/match", files={"file": ("p.gif", gif, "image/gif")}, headers=bearer(platform.api_key))
    assert r.status_code == 200, r.text
    (hit,) = r.json()["matches"]
    assert (hit["bank"], hit["variant"], hit["distance"]) == ("FromHMA", "raw", 0)
    # and a report's upload at intake
    rid = intake.submit_report(
        db, ReportIn(source=Source.PLATFORM, category=Category.CSAM, text="A palette picture.", files=[])
    ).report_id
    files.add_file(db, rid, FileIn(filename="p.gif"), gif, platform_id=None)
    with db.reader() as s:
        (m,) = s.scalars(select(HashMatch).where(HashMatch.report_id == rid))
    assert (m.bank_name, m.details["variant"]) == ("FromHMA", "raw")
