"""Stage forms on a page, built from the very models the CLI and the Resume dialog use
(models/forms.py): each field of the model becomes an input named by its path
(`scores.housing`, `goals.0.objective`), a posted page becomes the model's data again,
and every refusal (the model's, or the lifecycle's guards', "goals: add a goal for ...")
comes back as a sentence beside the field it names, with what was typed kept."""

from __future__ import annotations

import enum
import re
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from casework.models.instruments import Choice
from casework.models.labels import field_title, label

SKIPPED = frozenset({"submitted_by"})  # who submits is who signed in
Posted = dict[str, list[str]]
MAX_FORM_BYTES = 1_000_000  # a note is at most 20,000 characters; a page's whole form far less


async def posted(request: Request) -> Posted:
    """A page's form as posted (application/x-www-form-urlencoded): every value of every
    name; nothing for a GET. Kept on the request too: a form posted after its sign-in ran
    out is held for the same staff member to send once signed in again."""
    if request.method != "POST":
        return {}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "This form is larger than any the desk takes (1 MB).")
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=2000)
    request.state.form = form
    return form


@dataclass(frozen=True)
class Upload:
    """A page's form with one file (multipart/form-data): its other fields as `posted`
    gives them, and the file's name as given and its bytes (at most one more than an
    attachment may be: the service says it is too large)."""

    form: Posted
    name: str
    data: bytes


async def uploaded(request: Request) -> Upload:
    """A form posted with a file. A body far larger than any attachment is refused before
    it is read."""
    from casework.core.settings import get_settings

    limit = get_settings().attachment_max_bytes
    if int(request.headers.get("content-length") or 0) > limit + MAX_FORM_BYTES:
        raise HTTPException(413, "This file is larger than an attachment may be.")
    parsed = await request.form(max_files=1, max_fields=20)
    form = {name: [value] for name, value in parsed.items() if isinstance(value, str)}
    given = parsed.get("file")
    name, data = "", b""
    if given is not None and not isinstance(given, str):
        name, data = given.filename or "", await given.read(limit + 1)
    request.state.form = form
    return Upload(form, name, data)


@dataclass
class Input:
    name: str  # the path: scores.housing, goals.0.objective
    label: str
    kind: str  # select | scale | yesno | checkbox | checkboxes | date | fixed | textarea
    options: list[tuple[str, str]] = field(default_factory=list)  # (code, label)
    value: Any = None  # a code, "yes"/"no", a date text, or a list of codes (checkboxes)
    required: bool = False
    error: str | None = None
    hint: str | None = None

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")


@dataclass
class Group:
    name: str
    label: str
    items: list[Input | Group]
    error: str | None = None
    hint: str | None = None


def _plain(annotation: Any) -> tuple[Any, bool]:
    """The type inside `X | None` (and inside its `Annotated[...]`: an optional scale or
    date), and whether None was allowed."""
    kind, optional = annotation, False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        kind, optional = args[0], len(args) < len(typing.get_args(annotation))
    if typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return kind, optional


def _metadata(info: FieldInfo) -> list[Any]:
    """The field's constraints, its own and those inside an optional `Annotated[...]`."""
    found = list(info.metadata)
    if typing.get_origin(info.annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(info.annotation):
            if typing.get_origin(arg) is typing.Annotated:
                for meta in typing.get_args(arg)[1:]:
                    found += list(getattr(meta, "metadata", [meta]))
    return found


def _bounds(info: FieldInfo) -> tuple[int | None, int | None]:
    low = high = None
    for meta in _metadata(info):
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    return low, high


Choices = dict[
    str, list[tuple[str, str]]
]  # a field's own choices, by path pattern (`goals.*.objective`)
Rows = dict[str, int]  # how many rows a list of sub-forms offers, by its path


def layout(  # noqa: C901 - one branch per kind of field
    model: type[BaseModel],
    values: dict[str, Any],
    *,
    choices: Choices | None = None,
    rows: Rows | None = None,
    omit: frozenset[str] = frozenset(),
    prefix: str = "",
) -> list[Input | Group]:
    """The inputs of `model`, filled from `values` (flat: path -> what was posted); `omit`:
    paths (patterns) the model fills in itself (a goal's domain is its objective's)."""
    choices, rows = choices or {}, rows or {}
    items: list[Input | Group] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if name in SKIPPED or _matches(omit, path):
            continue
        # The model's description, unless it is the terminal's hint ("`casework ...`").
        hint = None if "`casework" in (info.description or "") else info.description
        kind, optional = _plain(info.annotation)
        title = info.title or field_title(name)
        required = info.is_required() and not optional
        own = _choices_for(choices, path)
        origin = typing.get_origin(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            sub = layout(kind, values, choices=choices, rows=rows, omit=omit, prefix=f"{path}.")
            items.append(Group(path, title, sub, hint=hint))
        elif origin is list:
            (inner,) = typing.get_args(kind)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                count = rows.get(path, 3)
                group_rows: list[Input | Group] = [
                    Group(
                        f"{path}.{i}",
                        f"{words_of(name)} {i + 1}",
                        layout(
                            inner,
                            values,
                            choices=choices,
                            rows=rows,
                            omit=omit,
                            prefix=f"{path}.{i}.",
                        ),
                    )
                    for i in range(count)
                ]
                items.append(Group(path, title, group_rows, hint=hint))
            else:
                options = own or _enum_options(inner)
                chosen = values.get(path) or []
                items.append(Input(path, title, "checkboxes", options, list(chosen), hint=hint))
        elif own is not None or _is_choice(kind):
            options = own if own is not None else _enum_options(kind)
            default = None if info.is_required() else info.default
            value = values.get(path, default.value if isinstance(default, enum.Enum) else default)
            if len(options) == 1 and path in choices and required:  # this row's own, fixed
                items.append(Input(path, title, "fixed", options, options[0][0], True))
                continue
            items.append(Input(path, title, "select", options, value, required, hint=hint))
        elif kind is bool:
            default = None if info.is_required() else info.default
            value = values.get(path, None if default is None else ("yes" if default else "no"))
            kind_name = "yesno" if info.is_required() else "checkbox"
            items.append(Input(path, title, kind_name, [], value, required, hint=hint))
        elif kind is int and _is_scale(info):
            low, high = _bounds(info)
            options = [(str(n), str(n)) for n in range(low or 1, (high or 5) + 1)]
            value = values.get(path)
            if not required:  # a choice may be taken back
                options, value = [("", "No answer"), *options], value or ""
            items.append(Input(path, title, "scale", options, value, required, hint=hint))
        elif kind is date:
            value = values.get(path)
            items.append(Input(path, title, "date", [], value, required, hint=hint))
        else:
            default = None if info.is_required() else info.default
            value = values.get(path, default)
            items.append(Input(path, title, "text", [], value, required, hint=hint))
    return items


def add_written(items: list[Input | Group], model: type[BaseModel], values: dict[str, Any]) -> None:
    """The form's questions answered outside it (kept in the store only): an assessment's
    items answered in words, each a text box in its instrument's section; a program's
    questions bearing identity, among its other questions."""
    from casework.models import stage_questions
    from casework.models.forms import AssessmentForm

    if issubclass(model, AssessmentForm):
        _add_words(items, model, values)
        return
    words = stage_questions.words_form(model)  # type: ignore[arg-type]
    if words is None:
        return
    name = stage_questions.FIELD
    place = _group(items, name)
    if place is None:
        place = Group(name, stage_questions.TITLE, [])
        items.append(place)
    place.items += layout(words, values, prefix=f"{name}.")


def _add_words(items: list[Input | Group], model: Any, values: dict[str, Any]) -> None:
    from casework.models.assessments import written_items

    instruments = model.instrument_fields()
    for path, item in written_items(model):
        name, section, _ = path.split(".")
        within = _group(items, name)
        if within is None:
            continue
        place = _group(within.items, f"{name}.{section}")
        if place is None:  # a section of words only
            declared = instruments[name].__instrument__
            title = next(s.title for s in declared.sections if s.id == section)
            place = Group(f"{name}.{section}", title, [])
            within.items.append(place)
        hint = "Kept in the case record only."
        if item.show_if is not None:
            hint += f" Answer only when {item.show_if.said()}."
        place.items.append(Input(path, item.label, "textarea", value=values.get(path), hint=hint))


def written_given(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """What was posted for the form's questions answered outside it, by path."""
    from casework.models import stage_questions
    from casework.models.assessments import written_items
    from casework.models.forms import AssessmentForm

    if issubclass(model, AssessmentForm):
        return {path: values[path] for path, _ in written_items(model) if path in values}
    words = stage_questions.words_form(model)  # type: ignore[arg-type]
    if words is None:
        return {}
    name = stage_questions.FIELD
    return {f"{name}.{k}": v for k, v in to_data(words, values, f"{name}.").items()}


def _group(items: list[Input | Group], name: str) -> Group | None:
    return next((g for g in items if isinstance(g, Group) and g.name == name), None)


def _is_scale(info: FieldInfo) -> bool:
    """A number with a few points between its bounds (1 to 5) is chosen on a scale; any other
    is typed."""
    low, high = _bounds(info)
    return low is not None and high is not None and high - low <= 10


def words_of(name: str) -> str:
    return field_title(name.rstrip("s"))


def _fits(pattern: str, path: str) -> bool:
    wanted, parts = pattern.split("."), path.split(".")
    return len(wanted) == len(parts) and all(
        w in ("*", p) for w, p in zip(wanted, parts, strict=True)
    )


def _matches(patterns: frozenset[str], path: str) -> bool:
    return any(_fits(pattern, path) for pattern in patterns)


def _choices_for(choices: Choices, path: str) -> list[tuple[str, str]] | None:
    exact = choices.get(path)
    if exact is not None:
        return exact
    for pattern, options in choices.items():
        if _fits(pattern, path):
            return options
    return None


def _enum_options(kind: Any) -> list[tuple[str, str]]:
    if isinstance(kind, type) and issubclass(kind, Choice):  # an instrument's own labels
        return list(kind.option_labels().items())
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return [(str(member.value), label(str(member.value))) for member in kind]
    if typing.get_origin(kind) is typing.Literal:
        values = [getattr(v, "value", v) for v in typing.get_args(kind)]
        return [(str(v), label(str(v))) for v in values]
    return []


def _is_choice(kind: Any) -> bool:
    return typing.get_origin(kind) is typing.Literal or (
        isinstance(kind, type) and issubclass(kind, enum.Enum)
    )


def flat(posted: dict[str, list[str]]) -> dict[str, Any]:
    """What a page posted, one value per path (several for checkboxes)."""
    return {name: values if len(values) > 1 else values[0] for name, values in posted.items()}


def to_values(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A form's data as the page posts it (flat: path -> value; yes/no for booleans): a
    form given before, laid out again to be corrected (the inverse of `to_data`)."""
    values: dict[str, Any] = {}
    for name, value in data.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            values |= to_values(value, f"{path}.")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, row in enumerate(value):
                values |= to_values(row, f"{path}.{i}.")
        elif isinstance(value, list):
            values[path] = [str(v) for v in value]
        elif isinstance(value, bool):
            values[path] = "yes" if value else "no"
        elif value is not None:
            values[path] = str(value)
    return values


def to_data(model: type[BaseModel], values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The model's data from flat posted values: yes/no as booleans, scales as numbers, a
    blank choice left out (the model's default, or its "required" refusal), and a row of a
    list left wholly blank left out."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in SKIPPED:
            continue
        path = f"{prefix}{name}"
        kind, _ = _plain(info.annotation)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            data[name] = to_data(kind, values, f"{path}.")
            continue
        if typing.get_origin(kind) is list:
            (inner,) = typing.get_args(kind)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                indices = sorted(
                    {int(k[len(path) + 1 :].split(".")[0]) for k in values if _row_of(k, path)}
                )
                filled = [to_data(inner, values, f"{path}.{i}.") for i in indices]
                # A row none of whose required answers was given is a row left blank (its
                # choices with defaults post their defaults all the same).
                needed = {n for n, f in inner.model_fields.items() if f.is_required()}
                data[name] = [row for row in filled if needed & row.keys()]
            else:
                chosen = values.get(path, [])
                data[name] = [chosen] if isinstance(chosen, str) else list(chosen)
            continue
        raw = values.get(path)
        if raw is None or raw == "":
            if kind is bool and not info.is_required() and prefix.count(".") < 2:
                data[name] = False  # an unticked box posts nothing
            continue
        if kind is bool:
            data[name] = raw in ("yes", "on", "true")
        elif kind is int:
            data[name] = int(raw) if str(raw).isdigit() else raw
        else:
            data[name] = raw
    return data


def _row_of(key: str, path: str) -> bool:
    if not key.startswith(f"{path}."):
        return False
    head = key[len(path) + 1 :].split(".")[0]
    return head.isdigit()


@dataclass
class Refusals:
    """What was refused: sentences per field path, and those that name no field."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)

    def add(self, path: str, sentence: str) -> None:
        self.by_field.setdefault(path, []).append(sentence)


def from_validation(exc: ValidationError) -> Refusals:
    found = Refusals()
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
        path = ".".join(loc)
        found.add(path, _sentence(error["type"], error["msg"], error.get("ctx") or {}))
    return found


def _sentence(kind: str, message: str, ctx: dict[str, Any]) -> str:
    if kind == "missing":
        return "Answer this: it is required."
    if kind in ("enum", "literal_error"):
        return "Choose one of the choices offered."
    if kind == "too_short":
        return f"Give at least {ctx.get('min_length', 1)}."
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


FIELD_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*$")
# What a refusal tells a command-line user to run, as the desk says it.
ON_THE_DESK = {
    "casework consent": "Record the client's consent in Referrals and consent, on this page.",
    "casework repair": "Ask an operator to repair the case's run (`casework repair`).",
}


def from_refusal(text: str) -> Refusals:
    """A refusal's text ("goals: add a goal ...; decision: ..."): each part that names a
    field by its path goes beside it (`place` finds the nearest field the page shows), the
    rest at the top; a command-line hint is said as the desk would."""
    found = Refusals()
    for part in (p.strip() for p in text.split("; ") if p.strip()):
        command = next((c for c in ON_THE_DESK if f"`{c}" in part), None)
        if command is not None:
            found.general.append(ON_THE_DESK[command])
            continue
        head, sep, rest = part.partition(": ")
        if sep and FIELD_PATH.match(head):
            found.add(head, rest[:1].upper() + rest[1:] + ("" if rest.endswith(".") else "."))
        else:
            found.general.append(part[:1].upper() + part[1:])
    return found


def mark(items: list[Input | Group], refusals: Refusals) -> None:
    """Put each refusal beside its field (or its row, or its list)."""
    for item in items:
        said = refusals.by_field.get(item.name)
        if said:
            item.error = " ".join(said)
        if isinstance(item, Group):
            mark(item.items, refusals)


def paths(items: list[Input | Group]) -> set[str]:
    found: set[str] = set()
    for item in items:
        found.add(item.name)
        if isinstance(item, Group):
            found |= paths(item.items)
    return found


def place(items: list[Input | Group], refusals: Refusals) -> Refusals:
    """Mark the refusals the page has a field for; the rest (a path the page does not show)
    go with the general ones, so none is lost."""
    known = paths(items)
    placed = Refusals(general=list(refusals.general))
    for path, sentences in refusals.by_field.items():
        target = path
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target:
            placed.by_field.setdefault(target, []).extend(sentences)
        else:
            placed.general.extend(sentences)
    mark(items, placed)
    return placed
