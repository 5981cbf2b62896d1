"""Pydantic's validation errors as sentences for the administrator, at their YAML paths.

`faq[2].entries[0].answer.en: required key is missing` rather than pydantic's own wording and
location tuples; an unknown key names the keys allowed there, an unknown field kind the kinds.
"""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from bot.fields import FIELD_KINDS
from bot.profile import Profile

__all__ = ["error_line"]


def _yaml_path(loc: tuple[int | str, ...]) -> str:
    """('faq', 2, 'entries', 0, 'answer', 'en') -> 'faq[2].entries[0].answer.en'."""
    path = ""
    for i, item in enumerate(loc):
        if isinstance(item, int):
            path += f"[{item}]"
        elif (
            i >= 2
            and loc[i - 2] == "fields"
            and isinstance(loc[i - 1], int)
            and (item in FIELD_KINDS)
        ):
            continue  # pydantic puts the discriminator value of a form field in the location
        else:
            path += f".{item}" if path else str(item)
    return path or "(top level)"


def error_line(error: Any) -> str:
    """A pydantic error as `<yaml path>: <sentence for the administrator>`."""
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx") or {}
    kinds = ", ".join(FIELD_KINDS)
    if kind == "union_tag_invalid":
        return f"{_yaml_path((*loc, 'kind'))}: unknown kind {ctx.get('tag')!r} (one of: {kinds})"
    if kind == "union_tag_not_found":
        return f"{_yaml_path((*loc, 'kind'))}: required key is missing (one of: {kinds})"
    return f"{_yaml_path(loc)}: {_message(kind, loc, ctx, error)}"


def _message(kind: str, loc: tuple[int | str, ...], ctx: dict[str, Any], error: Any) -> str:
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return "unknown key" + (f" (expected one of: {', '.join(allowed)})" if allowed else "")
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    message: str = error["msg"]
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str | int | float) and len(repr(value)) <= 60:
        message += f" (got {value!r})"
    return message


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType) and type(None) in get_args(annotation):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model at `loc` accepts, to suggest the right spelling of an unknown key."""
    annotation: Any = Profile
    for item in loc:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if origin is list and isinstance(item, int):
            annotation = get_args(annotation)[0]
        elif origin is dict:
            annotation = get_args(annotation)[1]
        elif origin in (Union, UnionType):  # the form-field union, keyed by `kind`
            members = [
                m for m in get_args(annotation)
                if isinstance(m, type) and issubclass(m, BaseModel) and "kind" in m.model_fields
                and get_args(m.model_fields["kind"].annotation) == (item,)
            ]  # fmt: skip
            if not members:
                return []
            annotation = members[0]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if item not in annotation.model_fields:
                return []
            annotation = annotation.model_fields[item].annotation
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []
