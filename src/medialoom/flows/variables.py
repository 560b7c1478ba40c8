"""Environment variables and secrets that flows read as ``env.<name>`` (and that webhook
triggers name as their shared secret). A secret's value is never shown again once set, and
run logs mask it."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from medialoom.assets.serialize import iso
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import FlowVariable
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest, NotFound

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_VARIABLES = 500
MAX_VALUE = 64 * 1024


class FlowVariables:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, env: EnvironmentInfo) -> dict[str, Any]:
        with self.db.read() as session:
            rows = session.scalars(select(FlowVariable).where(FlowVariable.environment_id == env.id)
                                   .order_by(FlowVariable.name)).all()
            return {"variables": [_describe(row) for row in rows]}

    def set(self, env: EnvironmentInfo, name: str, value: object, secret: object = False) -> dict[str, Any]:
        if not NAME.match(name):
            raise BadRequest(f"Invalid variable name {name!r}: letters, digits and _, not starting with a digit")
        if not isinstance(value, str):
            raise BadRequest("value must be a string")
        if len(value) > MAX_VALUE:
            raise BadRequest(f"value is longer than {MAX_VALUE} characters")
        with self.db.write() as session:
            row = session.scalar(select(FlowVariable).where(FlowVariable.environment_id == env.id,
                                                            FlowVariable.name == name))
            if row is None:
                count = session.scalar(select(func.count()).select_from(FlowVariable)
                                       .where(FlowVariable.environment_id == env.id))
                if count >= MAX_VARIABLES:
                    raise BadRequest(f"Too many variables (at most {MAX_VARIABLES})")
                row = FlowVariable(environment_id=env.id, name=name)
                session.add(row)
            # Once a secret, always a secret: turning it back into a plain value would show it.
            row.value, row.secret, row.updated_at = value, bool(secret) or bool(row.secret), utcnow()
            session.flush()
            return _describe(row)

    def delete(self, env: EnvironmentInfo, name: str) -> dict[str, Any]:
        with self.db.write() as session:
            row = session.scalar(select(FlowVariable).where(FlowVariable.environment_id == env.id,
                                                            FlowVariable.name == name))
            if row is None:
                raise NotFound(f"Variable {name} not found")
            session.delete(row)
        return {"message": "deleted"}


def _describe(row: FlowVariable) -> dict[str, Any]:
    return {"name": row.name, "secret": row.secret, "value": None if row.secret else row.value,
            "updated_at": iso(row.updated_at)}
