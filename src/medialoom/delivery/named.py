"""Named transformations (``t_<name>``) and the Admin API's ``/transformations``.

A named entry maps a name to a transformation string. An unnamed entry is a transformation
string registered under itself (``c_scale,w_103`` or ``c_scale,w_103/jpg``), which matters
only for strict mode: ``allowed_for_strict`` lets anyone derive it without a signature.

Delivery expands ``t_`` before rendering, so the derived file's key follows the definition:
changing a definition makes new URLs render anew and never serves the old rendering.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select

from medialoom.assets.codecs import parse_bool, parse_max_results
from medialoom.assets.serialize import derived_json, split_format
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Asset, DerivedFile, NamedTransformation
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest, NotFound
from medialoom.transform.grammar import Component, Transformation, TransformationError, canonical, parse
from medialoom.transform.long_form import long_form

_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
MAX_DEPTH = 5  # named transformations may use others, this deep


@dataclass(frozen=True)
class Entry:
    name: str
    transformation: str
    named: bool
    allowed_for_strict: bool


def unnamed_key(text: str) -> str | None:
    """The canonical name of a transformation string, or None when ``text`` is not one."""
    body, fmt = split_format(text.strip())
    try:
        parsed = parse(body)
    except TransformationError:
        return None
    if not parsed.components:
        return None
    return canonical(parsed) + (f"/{fmt}" if fmt else "")


class NamedTransformations:
    CACHE_SECONDS = 5.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[tuple[int, str], tuple[float, Entry | None]] = {}
        self._lock = threading.Lock()

    # -- delivery --------------------------------------------------------------------------

    def entry(self, env: EnvironmentInfo, name: str) -> Entry | None:
        """Cached briefly: every ``t_`` URL asks, and other processes may change definitions."""
        now = time.monotonic()
        cached = self._cache.get((env.id, name))
        if cached and cached[0] > now:
            return cached[1]
        with self.db.read() as session:
            row = session.scalar(select(NamedTransformation).where(
                NamedTransformation.environment_id == env.id, NamedTransformation.name == name))
            found = _entry(row) if row is not None else None
        with self._lock:
            self._cache[(env.id, name)] = (now + self.CACHE_SECONDS, found)
        return found

    def expand(self, env: EnvironmentInfo, transformation: Transformation, depth: int = 0) -> Transformation:
        """Replace every ``t_`` with its definition; the component's other parameters follow."""
        if not any(component.named for component in transformation.components):
            return transformation
        if depth >= MAX_DEPTH:
            raise TransformationError(f"Named transformations nest deeper than {MAX_DEPTH} levels", "t_")
        components: list[Component] = []
        for component in transformation.components:
            for name in component.named:
                entry = self.entry(env, name)
                if entry is None or not entry.named:
                    raise TransformationError(f"Named transformation {name} not found", f"t_{name}")
                components.extend(self.expand(env, parse(entry.transformation), depth + 1).components)
            rest = replace(component, named=())
            if rest != Component():
                components.append(rest)
        if len(components) > 10:
            raise TransformationError("Too many chained transformations once named ones are expanded")
        return Transformation(tuple(components))

    def allowed_for_strict(self, env: EnvironmentInfo, asked: Transformation, format_: str) -> bool:
        """Strict mode lets a transformation through when it is registered and allowed: as
        named transformations only, or as the same string (with or without the format)."""
        components = asked.components
        if components and all(c.named and replace(c, named=()) == Component() for c in components):
            entries = [self.entry(env, name) for c in components for name in c.named]
            return all(entry is not None and entry.allowed_for_strict for entry in entries)
        text = canonical(asked)
        return any(entry is not None and entry.allowed_for_strict
                   for entry in (self.entry(env, text), self.entry(env, f"{text}/{format_}")))

    # -- the Admin API ---------------------------------------------------------------------

    def list(self, env: EnvironmentInfo, values: dict[str, Any]) -> dict[str, Any]:
        max_results = parse_max_results(values, 10, 500)
        query = select(NamedTransformation).where(NamedTransformation.environment_id == env.id)
        if values.get("named") not in (None, ""):
            query = query.where(NamedTransformation.named.is_(bool(parse_bool(values["named"], "named"))))
        if values.get("next_cursor"):
            query = query.where(NamedTransformation.name > str(values["next_cursor"]))
        with self.db.read() as session:
            rows = session.scalars(query.order_by(NamedTransformation.name).limit(max_results + 1)).all()
            used = self._used(session, env, [row.name for row in rows])
        body: dict[str, Any] = {"transformations": [
            {"name": row.name, "allowed_for_strict": row.allowed_for_strict, "used": row.name in used,
             "named": row.named} for row in rows[:max_results]]}
        if len(rows) > max_results:
            body["next_cursor"] = rows[max_results - 1].name
        return body

    def show(self, env: EnvironmentInfo, name: str, base_url: str, values: dict[str, Any]) -> dict[str, Any]:
        key = self._key(name)
        max_results = parse_max_results(values, 10, 500)
        with self.db.read() as session:
            row = session.scalar(select(NamedTransformation).where(
                NamedTransformation.environment_id == env.id, NamedTransformation.name == key))
            derived = self._derived(session, env, key, max_results + 1, values.get("next_cursor"))
        # An unnamed transformation exists once used; a deleted named one is gone for good.
        if row is None and (not derived or unnamed_key(key) is None):
            raise NotFound(f"Transformation {name} not found")
        entry = _entry(row) if row is not None else Entry(key, key, False, False)
        body: dict[str, Any] = {
            "name": entry.name, "allowed_for_strict": entry.allowed_for_strict, "used": bool(derived),
            "named": entry.named, "info": long_form(parse(split_format(entry.transformation)[0])),
            "derived": [derived_json(file, asset, env, base_url) for file, asset in derived[:max_results]],
        }
        if len(derived) > max_results:
            body["next_cursor"] = str(derived[max_results - 1][0].id)
        return body

    def create(self, env: EnvironmentInfo, values: dict[str, Any]) -> dict[str, Any]:
        name = str(values.get("name") or "").strip()
        definition = str(values.get("transformation") or "").strip()
        if not name:
            raise BadRequest("Missing required parameter - name")
        unnamed = unnamed_key(name)
        if unnamed is not None and (not definition or unnamed_key(definition) == unnamed):
            entry = Entry(unnamed, unnamed, named=False, allowed_for_strict=False)
        else:
            if not _NAME.fullmatch(name):
                raise BadRequest(f"Invalid transformation name {name!r}: use letters, digits, '_' and '-'")
            if not definition:
                raise BadRequest("Missing required parameter - transformation")
            entry = Entry(name, self._definition(definition), named=True, allowed_for_strict=False)
        if "allowed_for_strict" in values:
            entry = replace(entry, allowed_for_strict=bool(parse_bool(values["allowed_for_strict"],
                                                                      "allowed_for_strict")))
        now = utcnow()
        with self.db.write() as session:
            exists = session.scalar(select(NamedTransformation.id).where(
                NamedTransformation.environment_id == env.id, NamedTransformation.name == entry.name))
            if exists is not None:
                raise BadRequest(f"Transformation {entry.name} already exists")
            session.add(NamedTransformation(
                environment_id=env.id, name=entry.name, transformation=entry.transformation, named=entry.named,
                allowed_for_strict=entry.allowed_for_strict, created_at=now, updated_at=now))
        self._forget(env, entry.name)
        return {"message": "created"}

    def update(self, env: EnvironmentInfo, name: str, values: dict[str, Any]) -> dict[str, Any]:
        key = self._key(name)
        now = utcnow()
        with self.db.write() as session:
            row = session.scalar(select(NamedTransformation).where(
                NamedTransformation.environment_id == env.id, NamedTransformation.name == key))
            if row is None:
                unnamed = unnamed_key(key)
                if unnamed is None:
                    raise NotFound(f"Transformation {name} not found")
                # An unnamed transformation exists as soon as it is used; updating it registers it.
                row = NamedTransformation(environment_id=env.id, name=unnamed, transformation=unnamed, named=False,
                                          allowed_for_strict=False, created_at=now)
                session.add(row)
            if "allowed_for_strict" in values:
                row.allowed_for_strict = bool(parse_bool(values["allowed_for_strict"], "allowed_for_strict"))
            if values.get("unsafe_update"):
                if not row.named:
                    raise BadRequest("Only named transformations can change their definition")
                row.transformation = self._definition(str(values["unsafe_update"]))
            row.updated_at = now
        self._forget(env, key)
        return {"message": "updated"}

    def delete(self, env: EnvironmentInfo, name: str) -> dict[str, Any]:
        key = self._key(name)
        with self.db.write() as session:
            row = session.scalar(select(NamedTransformation).where(
                NamedTransformation.environment_id == env.id, NamedTransformation.name == key))
            if row is None:
                raise NotFound(f"Transformation {name} not found")
            session.delete(row)
        self._forget(env, key)
        return {"message": "deleted"}

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _key(name: str) -> str:
        """What a name or a transformation string is stored under."""
        name = name.strip()
        if not name:
            raise BadRequest("Missing required parameter - transformation")
        return name if _is_name(name) else unnamed_key(name) or name

    @staticmethod
    def _definition(text: str) -> str:
        body, fmt = split_format(text)
        try:
            parsed = parse(body)
        except TransformationError as error:
            raise BadRequest(f"Invalid transformation: {error}") from None
        if not parsed.components:
            raise BadRequest("A named transformation needs at least one parameter")
        return canonical(parsed) + (f"/{fmt}" if fmt else "")

    def _forget(self, env: EnvironmentInfo, name: str) -> None:
        with self._lock:
            self._cache.pop((env.id, name), None)

    @staticmethod
    def _used(session: Any, env: EnvironmentInfo, names: list[str]) -> set[str]:
        asked = {name: _listed_as(name) for name in names}
        if not asked:
            return set()
        found = set(session.scalars(select(DerivedFile.transformation).where(
            DerivedFile.environment_id == env.id, DerivedFile.transformation.in_(set(asked.values())))).all())
        return {name for name, text in asked.items() if text in found}

    @staticmethod
    def _derived(session: Any, env: EnvironmentInfo, key: str, limit: int,
                 cursor: Any) -> list[tuple[DerivedFile, Asset]]:
        text = _listed_as(key)
        query = (select(DerivedFile, Asset).join(Asset, Asset.id == DerivedFile.asset_pk)
                 .where(DerivedFile.environment_id == env.id, DerivedFile.transformation == text,
                        DerivedFile.version_id == Asset.version_id))
        if cursor:
            if not str(cursor).isdigit():
                raise BadRequest("Invalid next_cursor")
            query = query.where(DerivedFile.id > int(cursor))
        return [tuple(row) for row in session.execute(query.order_by(DerivedFile.id).limit(limit)).all()]


def _is_name(text: str) -> bool:
    """A name (``thumb_small``) rather than a transformation string (``w_100``)."""
    return bool(_NAME.fullmatch(text)) and unnamed_key(text) is None


def _listed_as(key: str) -> str:
    """What derived files made with an entry are listed under (see DerivedFile.transformation)."""
    return f"t_{key}" if _is_name(key) else split_format(key)[0]


def _entry(row: NamedTransformation) -> Entry:
    return Entry(row.name, row.transformation, row.named, row.allowed_for_strict)

