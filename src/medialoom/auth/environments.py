"""Product environments: each one a cloud name with its own key, secret and assets."""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from medialoom.db.models import Environment
from medialoom.db.session import Database, as_utc, utcnow
from medialoom.errors import BadRequest

CLOUD_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class EnvironmentInfo:
    """An immutable snapshot that request handlers can keep without holding a session."""

    id: int
    cloud_name: str
    api_key: str
    api_secret: str
    folder_mode: str
    signature_algorithm: str
    created_at: str
    strict_transformations: bool = False
    auth_token_key: str | None = None

    @property
    def cloudinary_url(self) -> str:
        return f"cloudinary://{self.api_key}:{self.api_secret}@{self.cloud_name}"


def snapshot(row: Environment) -> EnvironmentInfo:
    return EnvironmentInfo(
        id=row.id,
        cloud_name=row.cloud_name,
        api_key=row.api_key,
        api_secret=row.api_secret,
        folder_mode=row.folder_mode,
        signature_algorithm=row.signature_algorithm,
        created_at=as_utc(row.created_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
        strict_transformations=row.strict_transformations,
        auth_token_key=row.auth_token_key,
    )


def generate_cloud_name() -> str:
    return "ml-" + secrets.token_hex(4)


def generate_api_key() -> str:
    # Cloudinary keys are 15 digits; some client code validates that shape.
    return str(secrets.randbelow(9 * 10**14) + 10**14)


def generate_api_secret() -> str:
    return secrets.token_urlsafe(20).replace("-", "x").replace("_", "y")[:27]


def _check_signature_algorithm(algorithm: str) -> None:
    # Cloudinary's per-account setting: it signs notifications, response signatures and the
    # delivery URLs in responses. Incoming signatures of either kind are accepted regardless.
    if algorithm not in ("sha1", "sha256"):
        raise BadRequest(f"Invalid signature algorithm {algorithm!r}: sha1 or sha256")


def _check_token_key(key: str | None) -> None:
    # The key is used as bytes.fromhex, as the SDKs do when they make tokens.
    if key and not re.fullmatch(r"(?:[0-9a-fA-F]{2}){16,64}", key):
        raise BadRequest("auth_token_key must be 32 to 128 hexadecimal characters")


class Environments:
    """Create, list and look up product environments; lookups are cached briefly because
    every request starts with one."""

    CACHE_SECONDS = 5.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, EnvironmentInfo]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        cloud_name: str = "",
        api_key: str = "",
        api_secret: str = "",
        folder_mode: str = "dynamic",
        *,
        strict_transformations: bool = False,
        auth_token_key: str | None = None,
        signature_algorithm: str = "sha1",
    ) -> EnvironmentInfo:
        cloud_name = cloud_name or generate_cloud_name()
        _check_signature_algorithm(signature_algorithm)
        if not CLOUD_NAME_RE.match(cloud_name):
            raise BadRequest(f"Invalid cloud name {cloud_name!r}: use 2-63 lower-case letters, digits and dashes")
        if folder_mode not in ("dynamic", "fixed"):
            raise BadRequest("folder_mode must be 'dynamic' or 'fixed'")
        _check_token_key(auth_token_key)
        with self.db.write() as session:
            clash = session.scalar(
                select(Environment).where(
                    (Environment.cloud_name == cloud_name) | (Environment.api_key == (api_key or "-"))
                )
            )
            if clash is not None:
                raise BadRequest(f"An environment with cloud name {cloud_name!r} or that API key already exists")
            row = Environment(
                cloud_name=cloud_name,
                api_key=api_key or generate_api_key(),
                api_secret=api_secret or generate_api_secret(),
                folder_mode=folder_mode,
                signature_algorithm=signature_algorithm,
                strict_transformations=strict_transformations,
                auth_token_key=auth_token_key or None,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return snapshot(row)

    def configure(self, cloud_name: str, *, strict_transformations: bool | None = None,
                  auth_token_key: str | None = None, signature_algorithm: str | None = None) -> EnvironmentInfo:
        """Change delivery and signing settings; ``auth_token_key=""`` removes the key. Other
        processes see the change within CACHE_SECONDS."""
        _check_token_key(auth_token_key)
        if signature_algorithm is not None:
            _check_signature_algorithm(signature_algorithm)
        with self.db.write() as session:
            row = session.scalar(select(Environment).where(Environment.cloud_name == cloud_name))
            if row is None:
                raise BadRequest(f"No environment {cloud_name!r}")
            if strict_transformations is not None:
                row.strict_transformations = strict_transformations
            if auth_token_key is not None:
                row.auth_token_key = auth_token_key or None
            if signature_algorithm is not None:
                row.signature_algorithm = signature_algorithm
            session.flush()
            info = snapshot(row)
        with self._lock:
            self._cache.pop(cloud_name, None)
        return info

    def list(self) -> list[EnvironmentInfo]:
        with self.db.read() as session:
            return [snapshot(row) for row in session.scalars(select(Environment).order_by(Environment.id))]

    def by_cloud_name(self, cloud_name: str) -> EnvironmentInfo | None:
        now = time.monotonic()
        cached = self._cache.get(cloud_name)
        if cached and cached[0] > now:
            return cached[1]
        with self.db.read() as session:
            row = session.scalar(select(Environment).where(Environment.cloud_name == cloud_name))
            info = snapshot(row) if row else None
        if info is not None:
            with self._lock:
                self._cache[cloud_name] = (now + self.CACHE_SECONDS, info)
        return info

    def count(self) -> int:
        with self.db.read() as session:
            return session.scalar(select(func.count()).select_from(Environment)) or 0
