"""Statements of the inbound path, compiled once by SQLAlchemy and run on the driver's cursor.

Every inbound message runs the same handful of statements. SQLAlchemy's execution layer
(execution context, result objects, events) costs several times what SQLite takes to run
them, and that time is spent on the database thread holding the GIL the event loop needs.
So these statements are compiled once per dialect by SQLAlchemy, their values converted by
the columns' own types (encryption and SQLite's date format included), and run directly on
the DBAPI cursor. Everything else uses SQLAlchemy as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


class Prepared:
    """One statement compiled for one dialect, with its value converters."""

    def __init__(
        self,
        statement: ClauseElement,
        dialect: Dialect,
        column_keys: Sequence[str] | None = None,
    ) -> None:
        compiled = cast(
            SQLCompiler,
            statement.compile(
                dialect=dialect, column_keys=list(column_keys) if column_keys else None
            ),
        )
        self.sql = compiled.string
        self._order: list[str] | None = (
            list(compiled.positiontup or []) if compiled.positional else None
        )
        self._binds: dict[str, Processor] = {}
        # Literals written into the statement (`direction == "in"`) are bound parameters too.
        self._constants = {
            name: bind.value
            for name, bind in compiled.binds.items()
            if bind.value is not None and bind.callable is None
        }
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._binds[name] = processor
        columns: Sequence[Any] = (
            getattr(statement, "selected_columns", None)
            or getattr(statement, "_returning", None)
            or ()
        )
        self._results: list[Processor | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> Any:
        """Run the statement with `values` (named as in the statement); returns the cursor."""
        converted = {
            name: (self._binds[name](value) if name in self._binds else value)
            for name, value in (
                {**self._constants, **values} if self._constants else values
            ).items()
        }
        if self._order is not None:
            cursor.execute(self.sql, [converted[name] for name in self._order])
        else:
            cursor.execute(self.sql, converted)
        return cursor

    def first(self, cursor: Any, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row, its values converted back by the columns' types."""
        row = self.execute(cursor, values).fetchone()
        if row is None:
            return None
        return tuple(
            processor(value) if processor is not None else value
            for processor, value in zip(self._results, row, strict=True)
        )

    def all(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, converted back like `first`."""
        return [
            tuple(
                processor(value) if processor is not None else value
                for processor, value in zip(self._results, row, strict=True)
            )
            for row in self.execute(cursor, values).fetchall()
        ]

    def scalar(self, cursor: Any, values: Mapping[str, Any]) -> Any:
        row = self.first(cursor, values)
        return None if row is None else row[0]
