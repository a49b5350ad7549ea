"""The Bot API specification (``api-10.0.json``) and request decoding against it.

The spec lists every method with its fields (name, allowed types, required) and every type with
its fields or its subtypes. ``ApiSpec.decode_params`` turns the raw parameters of one HTTP
request (form fields are strings, JSON bodies carry native values, uploads arrive as multipart
parts) into typed Python values, and raises ``SpecError`` for whatever the spec forbids: an
unknown parameter, a missing required one, a value of the wrong type, a nested object with an
unknown or missing field.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SPEC_PATH = (
    Path(__file__).resolve().parent.parent / "fixtures" / "telegram-bot-api" / "api-10.0.json"
)

_INTEGER = re.compile(r"-?\d+")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_DISCRIMINATOR = re.compile(r'(?:must be|always) "?([a-z_]+)"?\s*$')
_ARRAY = "Array of "


class SpecError(ValueError):
    """A request the spec forbids; ``description`` is the full Bot API error description."""

    def __init__(self, description: str, *, field: str | None = None, reason: str = "") -> None:
        super().__init__(description)
        self.description = description
        self.field = field
        self.reason = reason  # "unknown", "missing" or "type"


@dataclass(frozen=True)
class Upload:
    """One file received as a multipart part."""

    part: str
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class FieldSpec:
    """One field of a method or type."""

    name: str
    types: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class MethodSpec:
    """A Bot API method and its parameters."""

    name: str
    fields: Mapping[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass(frozen=True)
class TypeSpec:
    """A Bot API object type: either fields, or a union of subtypes."""

    name: str
    fields: Mapping[str, FieldSpec]
    subtypes: tuple[str, ...]
    discriminator: str | None  # the constant of its "type"/"source"/"status" field, if any


def _fields(raw: list[dict[str, Any]]) -> dict[str, FieldSpec]:
    return {f["name"]: FieldSpec(f["name"], tuple(f["types"]), bool(f["required"])) for f in raw}


def _discriminator(raw: dict[str, Any]) -> str | None:
    for field in raw.get("fields", []):
        if field["name"] in ("type", "source", "status"):
            found = _DISCRIMINATOR.search(field["description"])
            if found:
                return found[1]
    return None


class ApiSpec:
    """The methods and types of one Bot API version, loaded from the JSON spec."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.version: str = raw["version"]
        self.methods: dict[str, MethodSpec] = {
            name: MethodSpec(name, _fields(m.get("fields", [])), tuple(m["returns"]))
            for name, m in raw["methods"].items()
        }
        self.types: dict[str, TypeSpec] = {
            name: TypeSpec(
                name,
                _fields(t.get("fields", [])),
                tuple(t.get("subtypes", [])),
                _discriminator(t),
            )
            for name, t in raw["types"].items()
        }
        self._by_lower = {name.lower(): spec for name, spec in self.methods.items()}

    @classmethod
    def load(cls, path: Path | None = None) -> ApiSpec:
        """The spec in ``path`` (the vendored Bot API 10.0 by default), read once per process."""
        return _load(Path(path or DEFAULT_SPEC_PATH).resolve())

    def method(self, name: str) -> MethodSpec | None:
        """The method called ``name``; like Telegram, the lookup ignores case."""
        return self._by_lower.get(name.lower())

    # -- top-level parameters --------------------------------------------------------------

    def decode_params(
        self,
        method: MethodSpec,
        raw: Mapping[str, object],
        uploads: Mapping[str, Upload] | None = None,
    ) -> dict[str, Any]:
        """Typed parameters of one call; raises SpecError when the spec forbids them."""
        pending = dict(uploads or {})
        params: dict[str, Any] = {}
        for name, value in raw.items():
            field = method.fields.get(name)
            if field is None:
                raise SpecError(
                    f'Bad Request: unknown parameter "{name}" for method {method.name}',
                    field=name,
                    reason="unknown",
                )
            if (
                isinstance(value, str)
                and value.startswith("attach://")
                and "InputFile" in (field.types)
            ):
                part = value.removeprefix("attach://")
                if part not in pending:
                    raise SpecError(
                        f'Bad Request: file "{part}" of parameter "{name}" was not uploaded',
                        field=name,
                        reason="type",
                    )
                params[name] = pending.pop(part)
                continue
            params[name] = self._decode_top(field, value)
        for part, upload in pending.items():
            field = method.fields.get(part)
            if field is None or "InputFile" not in field.types:
                raise SpecError(
                    f'Bad Request: unknown parameter "{part}" for method {method.name}',
                    field=part,
                    reason="unknown",
                )
            params[part] = upload
        for field in method.fields.values():
            if field.required and field.name not in params:
                raise SpecError(
                    f"Bad Request: {field.name} is empty", field=field.name, reason="missing"
                )
        return params

    def _decode_top(self, field: FieldSpec, value: object) -> Any:
        errors: list[SpecError] = []
        for type_name in field.types:
            try:
                return self._coerce(type_name, value, field.name)
            except SpecError as error:
                if self._fits(type_name, value):
                    raise  # the value has this type's shape: its error is the useful one
                errors.append(error)
        if len(errors) == 1:
            raise errors[0]
        raise SpecError(
            f'Bad Request: parameter "{field.name}" must be {" or ".join(field.types)}, '
            f"got {value!r:.80}",
            field=field.name,
            reason="type",
        )

    def _fits(self, type_name: str, value: object) -> bool:
        """Whether ``value`` is an object carrying every required field of ``type_name``."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return False
        spec = self.types.get(type_name)
        if spec is None or spec.subtypes or not isinstance(value, dict):
            return False
        required = [f.name for f in spec.fields.values() if f.required]
        return bool(required) and all(name in value for name in required)

    def _coerce(self, type_name: str, value: object, where: str) -> Any:
        """Convert a top-level value, which may still be a form string, to ``type_name``."""
        if type_name == "InputFile":
            if isinstance(value, Upload):
                return value
            raise _type_error(where, type_name, value)
        if isinstance(value, str) and type_name not in ("String", "Integer", "Float", "Boolean"):
            try:
                value = json.loads(value)
            except ValueError:
                raise SpecError(
                    f'Bad Request: can\'t parse parameter "{where}": not a JSON-serialized '
                    f"{type_name}",
                    field=_top(where),
                    reason="type",
                ) from None
        if isinstance(value, str):
            return _coerce_scalar(type_name, value, where)
        if (
            type_name == "String"
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return str(value)
        self.check_value(type_name, value, where)
        return value

    # -- nested values ---------------------------------------------------------------------

    def check_value(self, type_name: str, value: object, where: str) -> None:
        """Check a JSON value against a spec type; raises SpecError naming the path."""
        if type_name.startswith(_ARRAY):
            if not isinstance(value, list):
                raise _type_error(where, type_name, value)
            for index, item in enumerate(value):
                self.check_value(type_name.removeprefix(_ARRAY), item, f"{where}[{index}]")
            return
        scalar = _SCALARS.get(type_name)
        if scalar is not None:
            if not scalar(value):
                raise _type_error(where, type_name, value)
            return
        spec = self.types.get(type_name)
        if spec is None:
            raise SpecError(f"Bad Request: the spec has no type {type_name} ({where})")
        if not isinstance(value, dict):
            raise _type_error(where, type_name, value)
        if spec.subtypes:
            self._check_union(spec, value, where)
        else:
            self._check_object(spec, value, where)

    def _check_union(self, spec: TypeSpec, value: dict[str, Any], where: str) -> None:
        tag = value.get("type", value.get("source", value.get("status")))
        candidates = [
            self.types[name]
            for name in spec.subtypes
            if self.types[name].discriminator in (None, tag)
        ]
        errors: list[SpecError] = []
        for candidate in candidates:
            try:
                self.check_value(candidate.name, value, where)
            except SpecError as error:
                errors.append(error)
            else:
                return
        if errors:
            raise errors[0]
        raise SpecError(
            f'Bad Request: can\'t parse {where}: unknown {spec.name} type "{tag}"',
            field=_top(where),
            reason="type",
        )

    def _check_object(self, spec: TypeSpec, value: dict[str, Any], where: str) -> None:
        for key, item in value.items():
            field = spec.fields.get(key)
            if field is None and spec.fields:
                raise SpecError(
                    f'Bad Request: can\'t parse {where}: {spec.name} has no field "{key}"',
                    field=_top(where),
                    reason="type",
                )
            if field is None:
                continue
            if len(field.types) == 1:
                self.check_value(field.types[0], item, f"{where}.{key}")
            elif not any(self._matches(t, item, f"{where}.{key}") for t in field.types):
                raise _type_error(f"{where}.{key}", " or ".join(field.types), item)
        for field in spec.fields.values():
            if field.required and field.name not in value:
                raise SpecError(
                    f'Bad Request: can\'t parse {where}: {spec.name} needs field "{field.name}"',
                    field=_top(where),
                    reason="type",
                )

    def _matches(self, type_name: str, value: object, where: str) -> bool:
        if type_name == "InputFile":
            return isinstance(value, str)  # "attach://<part>" inside JSON objects
        try:
            self.check_value(type_name, value, where)
        except SpecError:
            if type_name in _SCALARS or type_name.startswith(_ARRAY):
                return False
            raise
        return True


@functools.cache
def _load(path: Path) -> ApiSpec:
    with open(path, encoding="utf-8") as handle:
        return ApiSpec(json.load(handle))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_SCALARS = {
    "Integer": _is_int,
    "Float": lambda v: _is_int(v) or isinstance(v, float),
    "Boolean": lambda v: isinstance(v, bool),
    "True": lambda v: v is True,
    "String": lambda v: isinstance(v, str),
}


def _coerce_scalar(type_name: str, value: str, where: str) -> Any:
    """A form-field string as the scalar ``type_name``."""
    if type_name == "String":
        return value
    if type_name == "Integer" and _INTEGER.fullmatch(value.strip()):
        return int(value)
    if type_name == "Float":
        try:
            return float(value)
        except ValueError:
            pass
    if type_name == "Boolean" and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise _type_error(where, type_name, value)


def _type_error(where: str, expected: str, value: object) -> SpecError:
    return SpecError(
        f'Bad Request: parameter "{where}" must be {expected}, got {value!r:.80}',
        field=_top(where),
        reason="type",
    )


def _top(where: str) -> str:
    """The parameter a nested path like ``reply_markup.keyboard[0][1]`` belongs to."""
    return where.split(".")[0].split("[")[0]
