"""Reading the loop's own YAML files safely: configuration, playbooks, scenarios.

``load_yaml`` turns text into plain data or one ``ConfigError`` line (the file and the
YAML position); it refuses deep nesting and alias bombs. ``validation_problems`` turns a
pydantic ``ValidationError`` into one ``dotted.key: what is wrong`` per error, keys and
messages escaped so that nothing from a file can break or forge an error line. Used by
``selfheal.core.config``, ``selfheal.decision.playbook`` and the demo's scenario files;
pure: it reads no file itself.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from selfheal.core.errors import ConfigError

#: Most values one YAML file may hold, each use of an alias counted again: a file of
#: the loop's own (configuration, playbook, scenario) is a few hundred; an alias bomb
#: ("billion laughs") would otherwise hang validation.
MAX_YAML_VALUES = 100_000


def _count_values(data: Any, source: str) -> None:
    seen, stack = 0, [data]
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_YAML_VALUES:
            raise ConfigError(
                f"{source}: more than {MAX_YAML_VALUES} values (aliases expanded): refused"
            )
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def load_yaml(text: str, source: str) -> Any:
    """YAML text as plain data, for every file the loop reads (configuration, playbooks,
    scenarios); ``ConfigError`` in one line naming ``source`` and the position.

    >>> load_yaml("a: [1, 2]", "x.yaml")
    {'a': [1, 2]}
    >>> try:
    ...     load_yaml("a: [1, 2", "x.yaml")
    ... except ConfigError as exc:
    ...     print(exc)
    x.yaml: not valid YAML at line 1, column 9: expected ',' or ']', but got '<stream end>'
    """
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "unreadable").split())
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid YAML: nested too deeply") from None
    _count_values(data, source)
    return data


def _printable(text: str, limit: int = 80) -> str:
    """``text`` as one printable line (escaped when it holds control characters, cut
    at ``limit``): keys and values from a file must not break or forge an error line."""
    shown = text if text.isprintable() else ascii(text)[1:-1]
    return shown if len(shown) <= limit else shown[:limit] + "..."


def _key_of(loc: tuple[int | str, ...]) -> str:
    return ".".join(_printable(str(part)) for part in loc) or "(root)"


def validation_problems(exc: ValidationError) -> list[str]:
    """One ``dotted.key: what is wrong`` per error of a file validated with pydantic
    (configuration, playbooks, scenarios), each on one printable line."""
    problems = []
    for err in exc.errors():
        key = _key_of(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            problem = "unknown key"
        elif err["type"] == "value_error":  # our validators' messages, without pydantic's prefix
            problem = str(err["ctx"]["error"])
        else:
            problem = err["msg"]
        problems.append(f"{key}: {_printable(problem, 300)}")
    return problems
