"""Structured metadata fields and rules of an environment (Admin API ``/metadata_fields`` and
``/metadata_rules``), and the check every write of asset metadata goes through."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import MetadataField, MetadataRule
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest, NotFound
from medialoom.metadata import fields as schema
from medialoom.metadata.rules import new_rule, update_rule, validate_asset_metadata


def _make_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def _as_bad_request() -> Iterator[None]:
    try:
        yield
    except schema.MetadataError as error:
        raise BadRequest(str(error)) from None


def validated_metadata(session: Session, environment_id: int, current: dict[str, Any], given: dict[str, Any],
                       *, creating: bool) -> dict[str, Any]:
    """The asset's new metadata under its environment's fields and rules; a 400 otherwise."""
    rows = session.scalars(select(MetadataField).where(MetadataField.environment_id == environment_id)).all()
    if not rows and not given:
        return {}
    fields = {row.external_id: row.definition for row in rows}
    rules = [row.definition for row in session.scalars(
        select(MetadataRule).where(MetadataRule.environment_id == environment_id).order_by(MetadataRule.id))]
    with _as_bad_request():
        return validate_asset_metadata(fields, rules, current, given, creating=creating)


class Metadata:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- fields -------------------------------------------------------------------------------

    @staticmethod
    def _rows(session: Session, env: EnvironmentInfo) -> list[MetadataField]:
        return list(session.scalars(select(MetadataField).where(MetadataField.environment_id == env.id)
                                    .order_by(MetadataField.position, MetadataField.id)))

    @staticmethod
    def _row(session: Session, env: EnvironmentInfo, external_id: str) -> MetadataField:
        row = session.scalar(select(MetadataField).where(MetadataField.environment_id == env.id,
                                                         MetadataField.external_id == external_id))
        if row is None:
            raise NotFound(f"Metadata field {external_id} not found")
        return row

    def list_fields(self, env: EnvironmentInfo) -> dict[str, Any]:
        with self.db.read() as session:
            return {"metadata_fields": [row.definition for row in self._rows(session, env)]}

    def get_field(self, env: EnvironmentInfo, external_id: str) -> dict[str, Any]:
        with self.db.read() as session:
            return self._row(session, env, external_id).definition

    def create_field(self, env: EnvironmentInfo, body: dict[str, Any]) -> dict[str, Any]:
        with self.db.write() as session, _as_bad_request():
            rows = self._rows(session, env)
            field = schema.new_field(body, {row.external_id for row in rows}, _make_id)
            position = (session.scalar(select(func.max(MetadataField.position)).where(
                MetadataField.environment_id == env.id)) or 0) + 1
            session.add(MetadataField(environment_id=env.id, external_id=field["external_id"], position=position,
                                      definition=field, created_at=utcnow()))
        return field

    def _change_field(self, env: EnvironmentInfo, external_id: str,
                      change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        with self.db.write() as session, _as_bad_request():
            row = self._row(session, env, external_id)
            row.definition = change(row.definition)
            return row.definition

    def update_field(self, env: EnvironmentInfo, external_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._change_field(env, external_id, lambda field: schema.update_field(field, body, _make_id))

    def delete_field(self, env: EnvironmentInfo, external_id: str) -> dict[str, Any]:
        with self.db.write() as session:
            row = self._row(session, env, external_id)
            for rule in session.scalars(select(MetadataRule).where(MetadataRule.environment_id == env.id)):
                if external_id in str(rule.definition):
                    raise BadRequest(f"Metadata field {external_id} is used by rule {rule.external_id}")
            session.delete(row)
        return {"message": "ok"}

    def update_datasource(self, env: EnvironmentInfo, external_id: str, body: dict[str, Any]) -> dict[str, Any]:
        field = self._change_field(env, external_id,
                                   lambda f: schema.upsert_datasource(f, body.get("values"), _make_id))
        return field["datasource"]

    def set_datasource_state(self, env: EnvironmentInfo, external_id: str, body: dict[str, Any],
                             state: str) -> dict[str, Any]:
        field = self._change_field(env, external_id,
                                   lambda f: schema.set_datasource_state(f, body.get("external_ids"), state))
        return field["datasource"]

    def order_datasource(self, env: EnvironmentInfo, external_id: str, body: dict[str, Any]) -> dict[str, Any]:
        field = self._change_field(env, external_id, lambda f: schema.order_datasource(
            f, str(body.get("order_by", "value")), str(body.get("direction", "asc"))))
        return field["datasource"]

    def order_fields(self, env: EnvironmentInfo, body: dict[str, Any]) -> dict[str, Any]:
        with self.db.write() as session, _as_bad_request():
            rows = self._rows(session, env)
            stamped = [{**row.definition, "created_at": row.created_at.isoformat()} for row in rows]
            ordered = schema.order_fields(stamped, str(body.get("order_by", "")), str(body.get("direction", "asc")))
            by_id = {row.external_id: row for row in rows}
            for position, field in enumerate(ordered, start=1):
                by_id[field["external_id"]].position = position
            return {"metadata_fields": [by_id[field["external_id"]].definition for field in ordered]}

    # -- rules --------------------------------------------------------------------------------

    def _fields(self, session: Session, env: EnvironmentInfo) -> dict[str, dict[str, Any]]:
        return {row.external_id: row.definition for row in self._rows(session, env)}

    def list_rules(self, env: EnvironmentInfo) -> list[dict[str, Any]]:
        with self.db.read() as session:
            return [row.definition for row in session.scalars(
                select(MetadataRule).where(MetadataRule.environment_id == env.id).order_by(MetadataRule.id))]

    def create_rule(self, env: EnvironmentInfo, body: dict[str, Any]) -> dict[str, Any]:
        with self.db.write() as session, _as_bad_request():
            existing = set(session.scalars(select(MetadataRule.external_id).where(
                MetadataRule.environment_id == env.id)))
            rule = new_rule(body, self._fields(session, env), existing, _make_id)
            session.add(MetadataRule(environment_id=env.id, external_id=rule["external_id"], definition=rule,
                                     created_at=utcnow()))
        return rule

    def _rule(self, session: Session, env: EnvironmentInfo, external_id: str) -> MetadataRule:
        row = session.scalar(select(MetadataRule).where(MetadataRule.environment_id == env.id,
                                                        MetadataRule.external_id == external_id))
        if row is None:
            raise NotFound(f"Metadata rule {external_id} not found")
        return row

    def update_rule(self, env: EnvironmentInfo, external_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.db.write() as session, _as_bad_request():
            row = self._rule(session, env, external_id)
            row.definition = update_rule(row.definition, body, self._fields(session, env))
            return row.definition

    def delete_rule(self, env: EnvironmentInfo, external_id: str) -> dict[str, Any]:
        with self.db.write() as session:
            session.delete(self._rule(session, env, external_id))
        return {"success": True}
