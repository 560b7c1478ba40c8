"""The Admin API's ``usage`` report: what an environment stores, and the limits it enforces."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from medialoom.auth.environments import EnvironmentInfo
from medialoom.config import Settings
from medialoom.db.models import Asset, AssetVersion
from medialoom.db.session import Database, utcnow


def usage(db: Database, settings: Settings, env: EnvironmentInfo, date: str | None = None) -> dict[str, Any]:
    with db.read() as session:
        count, stored = session.execute(select(func.count(Asset.id), func.coalesce(func.sum(Asset.bytes), 0))
                                        .where(Asset.environment_id == env.id, Asset.placeholder.is_(False))).one()
        backups = session.scalar(select(func.coalesce(func.sum(AssetVersion.bytes), 0))
                                 .join(Asset, Asset.id == AssetVersion.asset_pk)
                                 .where(Asset.environment_id == env.id)) or 0
    now = utcnow()
    body: dict[str, Any] = {
        "plan": "Self-hosted",
        "last_updated": now.strftime("%Y-%m-%d"),
        # Self-hosted: nothing is metered against a quota, so limits are absent, not zero.
        "transformations": {"usage": 0, "credits_usage": 0},
        "objects": {"usage": int(count)},
        "bandwidth": {"usage": 0, "credits_usage": 0},
        "storage": {"usage": int(stored) + int(backups), "credits_usage": 0},
        "credits": {"usage": 0},
        "requests": 0,
        "resources": int(count),
        "derived_resources": 0,
        "media_limits": {
            "image_max_size_bytes": settings.max_image_bytes,
            "video_max_size_bytes": settings.max_video_bytes,
            "raw_max_size_bytes": settings.max_raw_bytes,
            "image_max_px": int(settings.max_image_megapixels * 1_000_000),
            "asset_max_total_px": int(settings.max_image_megapixels * 1_000_000 * 10),
        },
    }
    if date:
        body["date_requested"] = date
    return body
