"""Reading an organisation profile file, and reporting every mistake in it at once.

`load_profile` validates the whole file at start and reports *every* mistake as
`<yaml path>: <message>`, so a typo is fixed in one go instead of one restart per error;
`tawasul profile check PATH` prints the same report (`format_errors`).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from bot.profile import Profile
from bot.profile_messages import error_line
from bot.profile_references import SKIP_REFERENCE_CHECKS, reference_errors

__all__ = ["ProfileError", "format_errors", "load_profile"]


class ProfileError(Exception):
    """The profile cannot be used; `errors` holds one `<yaml path>: <message>` line per problem."""

    def __init__(self, errors: list[str], path: str | os.PathLike[str] | None = None) -> None:
        self.errors = list(errors)
        self.path = path
        super().__init__(
            format_errors(path, self.errors) if path is not None else "\n".join(errors)
        )


def format_errors(path: str | os.PathLike[str], errors: list[str]) -> str:
    """The report `tawasul profile check PATH` prints: one line per error, then a count line."""
    where = os.fspath(path)
    lines = [f"{where}: {error}" for error in errors]
    count = len(errors)
    lines.append(f"{count} error{'' if count == 1 else 's'} in {where}" if count else
                 f"no errors in {where}")  # fmt: skip
    return "\n".join(lines)


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile; raise ProfileError listing every problem, not just the first."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ProfileError(["file not found"], path) from None
    except IsADirectoryError:
        raise ProfileError(["is a directory, not a profile file"], path) from None
    except OSError as exc:
        raise ProfileError([f"cannot read the file: {exc.strerror or exc}"], path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8"
        raise ProfileError([message], path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ProfileError([f"{where}{problem}"], path) from None
    except yaml.YAMLError as exc:
        raise ProfileError([f"invalid YAML: {exc}"], path) from None
    if data is None:
        message = "the file is empty; start from profiles/example.yaml"
        raise ProfileError([message], path)
    if not isinstance(data, dict):
        found = "a list" if isinstance(data, list) else f"the single value {data!r}"
        message = f"the top level must be a mapping (name:, contact:, ...), not {found}"
        raise ProfileError([message], path)

    errors = _duplicate_key_errors(text)
    profile: Profile | None = None
    try:
        profile = Profile.model_validate(data, context={SKIP_REFERENCE_CHECKS: True})
    except ValidationError as exc:
        errors += [error_line(e) for e in exc.errors()]
    errors += reference_errors(data)
    if errors or profile is None:
        raise ProfileError(list(dict.fromkeys(errors)), path)
    return profile


def _duplicate_key_errors(text: str) -> list[str]:
    """PyYAML silently keeps the last of two equal keys; a copy-paste slip must not vanish."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    errors: list[str] = []

    def walk(node: yaml.Node | None, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                child = f"{path}.{name}" if path else str(name)
                if name is not None and name != "<<":
                    if name in seen:
                        errors.append(
                            f"{child}: duplicate key (first written on line {seen[name]})"
                        )
                    else:
                        seen[name] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]")

    walk(root, "")
    return errors
