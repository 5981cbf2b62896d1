"""One turn's save step as the effects see it: the inbound batch's database cursor, who the
turn is about, and what the step gives back (the state to save, the messages to deliver).

Its statements are `Prepared` (bot/prepared.py) once per database, like the rest of the
inbound path, so an effect costs its statements and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from bot.crypto import Cipher
from bot.prepared import Prepared
from bot.tables import Base


class Statements:
    """Statements compiled for one database on first use, kept for the process's life."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._prepared: dict[int, tuple[object, Prepared]] = {}

    def get(self, statement: ClauseElement) -> Prepared:
        found = self._prepared.get(id(statement))
        if found is None:
            found = (statement, Prepared(statement, self.dialect))
            self._prepared[id(statement)] = found  # the statement is kept, so its id is too
        return found[1]

    def insert(self, table: Table) -> tuple[Prepared, list[str]]:
        """An INSERT of every column but the id, returning the id, and those columns."""
        found = self._prepared.get(id(table))
        columns = [column.key for column in table.columns if column.key != "id"]
        if found is None:
            statement = insert(table).returning(table.c.id)
            found = (table, Prepared(statement, self.dialect, columns))
            self._prepared[id(table)] = found
        return found[1], columns


@dataclass
class TurnWrite:
    cursor: Any
    statements: Statements
    cipher: Cipher
    contact_id: int
    conversation_id: int
    address_id: int
    channel: str
    now: datetime
    state: dict[str, Any]
    queued: list[int] = field(default_factory=list)

    def execute(self, statement: ClauseElement, values: dict[str, Any]) -> None:
        self.statements.get(statement).execute(self.cursor, values)

    def first(self, statement: ClauseElement, values: dict[str, Any]) -> tuple[Any, ...] | None:
        return self.statements.get(statement).first(self.cursor, values)

    def scalar(self, statement: ClauseElement, values: dict[str, Any]) -> Any:
        return self.statements.get(statement).scalar(self.cursor, values)

    def all(self, statement: ClauseElement, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self.statements.get(statement).all(self.cursor, values)

    def insert(self, table_name: str, values: dict[str, Any]) -> int:
        """A new row of `table_name` (columns left out are NULL); returns its id."""
        prepared, columns = self.statements.insert(Base.metadata.tables[table_name])
        row_id: int = prepared.scalar(self.cursor, {key: values.get(key) for key in columns})
        return row_id

    def audit(self, action: str, details: dict[str, Any]) -> None:
        """An audit entry for something the contact did in this turn."""
        self.insert(
            "audit_log",
            {
                "at": self.now,
                "actor": f"contact:{self.contact_id}",
                "action": action,
                "subject_type": "contact",
                "subject_id": self.contact_id,
                "details": details,
            },
        )
