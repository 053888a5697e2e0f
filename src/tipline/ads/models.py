"""Rows of the ads capability: one row per imported ad (beside its evidence item, which holds its sealed
text and the entities it names), the template clusters, the ads' LSH band keys (so new ads find their
candidates without a rebuild) and the common text learned at the last rebuild."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tipline.store.models import Base, utcnow
from tipline.store.types import SealedJSON


class Ad(Base):
    """One ad as a site showed it. Its title and text live sealed in its evidence item (``evidence_id``)."""

    __tablename__ = "ads"
    __table_args__ = (
        UniqueConstraint("site", "ad_id", name="uq_ads_site_ad_id"),
        UniqueConstraint("evidence_id", name="uq_ads_evidence_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id", ondelete="CASCADE"))
    site: Mapped[str] = mapped_column(String(200), index=True)
    ad_id: Mapped[str] = mapped_column(String(200))  # the site's own id, as given
    posted_at: Mapped[datetime] = mapped_column(index=True)
    city: Mapped[str] = mapped_column(String(200), default="", index=True)
    country: Mapped[str] = mapped_column(String(2), default="")
    url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # its pictures: {"pdq": 64 hex, "quality": 0-100 or None (a hash as given), "file": the hashed file's
    # name or None, "links": whether it names a ``pdq`` entity (flat pictures do not)}
    images: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(String(128))  # the import's --source name (or the API platform)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    # E.164 phones the extractor found, and the phone as written when it was disguised (indicator)
    phones: Mapped[list[Any]] = mapped_column(default=list)
    obscured_phone: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # what the clusterer needs without unsealing the text: the residual shingles (uint32 little-endian)
    residual: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    # keyed hashes of the text's words (``Keyring.blind``, first 12 hex), for /ads text search
    words: Mapped[str] = mapped_column(Text, default="")
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("ad_clusters.id", ondelete="SET NULL"), index=True, nullable=True
    )
    # posting-order rank at the last rebuild (ties broken by site and id); new ads get the next ranks
    rank: Mapped[int] = mapped_column(Integer, default=0, index=True)


class AdCluster(Base):
    """A template cluster: two ads or more written from one template."""

    __tablename__ = "ad_clusters"
    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    # the summary (template, slots, sites, cities, indicators, movement) as JSON text, sealed: slot values
    # are words of the ads
    summary: Mapped[dict[str, Any]] = mapped_column(SealedJSON("ad_clusters.summary"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdBand(Base):
    """One LSH band key of one ad (``bands`` rows per ad with enough text)."""

    __tablename__ = "ad_bands"
    __table_args__ = (Index("ix_ad_bands_band_key", "band", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ad_pk: Mapped[int] = mapped_column(ForeignKey("ads.id", ondelete="CASCADE"), index=True)
    band: Mapped[int] = mapped_column(SmallInteger)
    key: Mapped[int] = mapped_column(BigInteger)


class AdCommonText(Base):
    """A shingle learned to be common at the last rebuild: ``site`` empty for all sites (stock phrases),
    else that site's boilerplate."""

    __tablename__ = "ad_common_text"
    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(200), default="", index=True)
    shingle: Mapped[int] = mapped_column(BigInteger)
