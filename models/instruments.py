"""Assessment instruments, declared as data: one TOML file per instrument (its items, their
types, sections, conditions, scoring rules as published, what makes a crisis, and the risk
level a score sets), read and checked at start-up. The forms each surface shows (the CLI's
JSON, the Prefect Resume dialog, the desk) are pydantic models built here from the
declaration, and scoring reads the same declaration.

The vocabulary (docs/program-managers.md, "Your program's assessment", says it for program
managers):

- `id`, `title`, `version` (raise it with every change to what is asked or how it is
  scored), `source` and `licence` (where the instrument is published and on what terms);
- `[[sections]]`: `id`, `title`; every item names its section;
- `[[items]]`: `id`, `section`, `label` (the question as asked), `type` one of
  `scale` (`min`, `max`, `anchors` labelling each point), `yes_no`, `choice` or `choices`
  (pick one, or any: `options = [{code, label, value}]`, `value` is the option's points),
  `number` (`min`, `max`), `date`, or `text` (words: see below); `required` (default true,
  a yes/no left out is "no"), `show_if` (a condition: asked only when it holds), `domain`
  (the needs domain a scale item speaks to);
- `[[scores]]`: `id`, `title`, `rule` one of `sum`, `count` (items whose answer meets
  `count_if`), `min`, `max`, over `items`; `reverse` lists reverse-scored items (a scale's
  `min + max - answer`); `bands` name ranges (`[{at_least, band}]`, the highest reached);
- `[[crisis]]`: a `flag` raised `when` any of its conditions holds: a crisis flag makes the
  risk critical (act today);
- `[[crisis_domains]]`: a needs `domain` in crisis `when` any condition holds: the plan
  must then have a goal in it;
- `[[risk]]`: a `level` set `when` any of its conditions holds, the first that matches in
  the file's order; none: low.

A condition is `{item = ID}` or `{score = ID}` with one of `equals`, `in`, `at_least`,
`at_most` (an item's `at_least`/`at_most` compare its points: a scale's or number's answer,
a choice's `value`, a yes as 1).

A `text` item is answered in words, and no client's words go on a Prefect surface: it is
not part of the form a run waits for (nor of its Resume dialog), but asked on the desk and
taken from the form `casework submit` reads, and kept in the case store with the
assessment's narrative. It is never required (the dialog cannot ask it), never scored, and
no condition tests it; it may itself be asked only when a condition holds.

Pure: no store, no Prefect. Codes and numbers only."""

from __future__ import annotations

import hashlib
import json
import tomllib
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from casework.core.errors import UserError
from casework.models.codes import NeedsDomain, RiskLevel

SHIPPED_DIR = Path(__file__).with_name("instruments")
CODE = r"^[a-z][a-z0-9_]{0,47}$"
Code = Annotated[str, Field(pattern=CODE)]
Label = Annotated[str, Field(min_length=1, max_length=600)]
ItemType = Literal["scale", "yes_no", "choice", "choices", "number", "date", "text"]
TEXT_LIMIT = 4000  # characters in a text item's answer
RISK_ORDER = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]


class InstrumentError(UserError):
    """An instrument's declaration is missing, malformed or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    code: Code
    label: Label
    value: float = 0


class Test(_Strict):
    """What an answer (or a score) is tested for: one of equals, in, at_least, at_most."""

    equals: str | bool | float | None = None
    in_: list[str | bool | float] | None = Field(default=None, alias="in")
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Test:
        tests = [self.equals, self.in_, self.at_least, self.at_most]
        if sum(test is not None for test in tests) != 1:
            raise ValueError("give one of equals, in, at_least, at_most")
        return self


class Condition(Test):
    item: Code | None = None
    score: Code | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> Condition:
        if (self.item is None) == (self.score is None):
            raise ValueError("name one of item or score")
        return self

    def said(self) -> str:
        what = self.item or self.score
        for word, test in (
            ("is", self.equals),
            ("is one of", self.in_),
            ("is at least", self.at_least),
            ("is at most", self.at_most),
        ):
            if test is not None:
                return f"{what} {word} {_shown(test)}"
        return str(what)  # pragma: no cover - the validator requires one test


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Section(_Strict):
    id: Code
    title: Label


class Item(_Strict):
    id: Code
    section: Code
    label: Label
    type: ItemType
    required: bool = True
    min: int | None = None
    max: int | None = None
    anchors: dict[str, Label] = Field(default_factory=dict)
    options: list[Option] = Field(default_factory=list, max_length=40)
    show_if: Condition | None = None
    domain: NeedsDomain | None = None
    past_only: bool = False  # a date: not after the day it is given

    @model_validator(mode="before")
    @classmethod
    def _words_optional(cls, data: Any) -> Any:
        """A text item is optional unless its file says otherwise (and that is refused)."""
        if isinstance(data, dict) and data.get("type") == "text" and "required" not in data:
            return {**data, "required": False}
        return data

    @model_validator(mode="after")
    def _typed(self) -> Item:
        problem = self._options_problem() or self._bounds_problem() or self._words_problem()
        if problem:
            raise ValueError(problem)
        return self

    @property
    def written(self) -> bool:
        """Answered in words: kept in the case store only, never in a run's input."""
        return self.type == "text"

    def _words_problem(self) -> str | None:
        if not self.written:
            return None
        if self.required:
            return "a text item cannot be required: the Prefect Resume dialog does not ask it"
        if self.domain is not None:
            return "a text item speaks to no domain: only a scale item's answer is its score"
        return None

    def _options_problem(self) -> str | None:
        if self.type not in ("choice", "choices"):
            return (
                f"options belong to choice items, not to a {self.type} item"
                if self.options
                else None
            )
        codes = [option.code for option in self.options]
        if len(codes) < 2:
            return f"a {self.type} item needs at least two options"
        if len(set(codes)) != len(codes):
            return "two options share a code"
        if len({option.label for option in self.options}) != len(codes):
            return "two options share a label"
        return None

    def _bounds_problem(self) -> str | None:
        if self.type == "scale":
            if self.min is None or self.max is None or self.min >= self.max:
                return "a scale needs min below max"
            if set(self.anchors) - {str(n) for n in range(self.min, self.max + 1)}:
                return f"anchors must label points {self.min} to {self.max}"
            return None
        if self.anchors:
            return "anchors belong to scale items"
        if self.type != "number" and (self.min is not None or self.max is not None):
            return f"min and max belong to scale and number items, not {self.type}"
        if self.min is not None and self.max is not None and self.min > self.max:
            return "min is above max"
        return None

    def points(self, answer: Any) -> float | None:
        """What an answer counts for in a score: a number as it is, a yes as 1, a choice its
        option's value, several choices the sum of theirs."""
        if answer is None:
            return None
        if isinstance(answer, bool):
            return 1.0 if answer else 0.0
        if isinstance(answer, (int, float)):
            return float(answer)
        values = {option.code: option.value for option in self.options}
        if isinstance(answer, list):
            return float(sum(values[str(code)] for code in answer))
        if isinstance(answer, str) and answer in values:
            return float(values[answer])
        return None


class Band(_Strict):
    at_least: float
    band: Code


class Score(_Strict):
    id: Code
    title: Label
    rule: Literal["sum", "count", "min", "max"]
    items: list[Code] = Field(min_length=1)
    count_if: Test | None = None
    reverse: list[Code] = Field(default_factory=list)
    bands: list[Band] = Field(default_factory=list)
    higher_is_better: bool = False  # how the outcomes report reads a change

    @model_validator(mode="after")
    def _count_needs_test(self) -> Score:
        if (self.rule == "count") != (self.count_if is not None):
            raise ValueError("count_if goes with rule = count, and only with it")
        if set(self.reverse) - set(self.items):
            raise ValueError("reverse lists items the score does not sum")
        return self


class Crisis(_Strict):
    flag: Code
    when: list[Condition] = Field(min_length=1)


class CrisisDomain(_Strict):
    domain: NeedsDomain
    when: list[Condition] = Field(min_length=1)


class Risk(_Strict):
    level: RiskLevel
    when: list[Condition] = Field(min_length=1)


class Instrument(_Strict):
    id: Code
    title: Label
    version: int = Field(ge=1)
    source: Label
    licence: Label
    instructions: str = Field(default="", max_length=2000)
    sections: list[Section] = Field(min_length=1)
    items: list[Item] = Field(min_length=1, max_length=200)
    scores: list[Score] = Field(default_factory=list)
    crisis: list[Crisis] = Field(default_factory=list)
    crisis_domains: list[CrisisDomain] = Field(default_factory=list)
    risk: list[Risk] = Field(default_factory=list)

    @field_validator("sections", "items", "scores")
    @classmethod
    def _unique(cls, value: list[Any]) -> list[Any]:
        ids = [entry.id for entry in value]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} declared twice")
        return value

    @model_validator(mode="after")
    def _references(self) -> Instrument:
        problems = list(self._problems())
        if problems:
            raise ValueError(problems[0])
        return self

    def _problems(self) -> Iterable[str]:
        sections = {s.id for s in self.sections}
        items = {i.id: i for i in self.items}
        if sections & items.keys():
            yield f"{', '.join(sorted(sections & items.keys()))} names both a section and an item"
        yield from self._item_problems(sections, items)
        yield from self._score_problems(items)
        yield from self._rule_problems(items)

    def _item_problems(self, sections: set[str], items: dict[str, Item]) -> Iterable[str]:
        for number, item in enumerate(self.items):
            where = f"items[{number}] ({item.id})"
            if item.section not in sections:
                yield f"{where}: section {item.section} is not declared"
            if item.show_if is None:
                continue
            if item.show_if.score is not None:
                yield f"{where}: show_if names a score; it may name an earlier item only"
            elif item.show_if.item not in {i.id for i in self.items[:number]}:
                yield f"{where}: show_if names {item.show_if.item}, not an earlier item"
            else:
                yield from _fits(item.show_if, items, f"{where}: show_if")

    def _score_problems(self, items: dict[str, Item]) -> Iterable[str]:
        for number, score in enumerate(self.scores):
            where = f"scores[{number}] ({score.id})"
            for name in score.items:
                if name not in items:
                    yield f"{where}: item {name} is not declared"
                elif items[name].type in ("date", "text"):
                    yield f"{where}: item {name} is a {items[name].type}; a score adds numbers"
            for name in score.reverse:
                if name in items and items[name].type != "scale":
                    yield f"{where}: only a scale item can be reverse-scored, not {name}"
            if [b.at_least for b in score.bands] != sorted(b.at_least for b in score.bands):
                yield f"{where}: bands must rise (at_least in increasing order)"

    def _rule_problems(self, items: dict[str, Item]) -> Iterable[str]:
        scores = {s.id for s in self.scores}
        rules: list[tuple[str, list[Condition]]] = [
            *((f"crisis[{n}] ({c.flag})", c.when) for n, c in enumerate(self.crisis)),
            *((f"crisis_domains[{n}]", c.when) for n, c in enumerate(self.crisis_domains)),
            *((f"risk[{n}] ({r.level.value})", r.when) for n, r in enumerate(self.risk)),
        ]
        for where, conditions in rules:
            for condition in conditions:
                if condition.score is not None and condition.score not in scores:
                    yield f"{where}: score {condition.score} is not declared"
                elif condition.item is not None and condition.item not in items:
                    yield f"{where}: item {condition.item} is not declared"
                elif condition.item is not None:
                    yield from _fits(condition, items, where)
        flags = [c.flag for c in self.crisis]
        if len(set(flags)) != len(flags):
            yield "crisis: two rules raise the same flag"

    @cached_property
    def fingerprint(self) -> str:
        """What the declaration is (worked out once), for comparing two files that claim the
        same version, and for finding the form built for it."""
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)

    def section_items(self, section: str) -> list[Item]:
        return [i for i in self.items if i.section == section]


def _fits(condition: Condition, items: dict[str, Item], where: str) -> Iterable[str]:
    """A condition on an item tests what that item can answer."""
    item = items[str(condition.item)]
    codes = {o.code for o in item.options}
    tested = [condition.equals] if condition.equals is not None else condition.in_ or []
    if item.type in ("choice", "choices"):
        wrong = [str(t) for t in tested if t not in codes]
        if wrong:
            yield f"{where}: {', '.join(wrong)} is not an option of {item.id}"
    elif item.type == "yes_no":
        if any(not isinstance(t, bool) for t in tested):
            yield f"{where}: {item.id} is yes/no: test it with equals = true or false"
    elif item.type in ("date", "text"):
        yield f"{where}: {item.id} is a {item.type}; conditions test answers that count"


# Reading the files.


def load(path: Path) -> Instrument:
    """One instrument's declaration, checked; one line naming the file, the entry and what
    is wrong if it is not right."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InstrumentError(f"{path}: no such instrument file") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InstrumentError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise InstrumentError(f"{path}: not UTF-8 text") from None
    try:
        instrument = Instrument.model_validate(raw)
    except ValidationError as exc:
        raise InstrumentError(f"{path}: {_where(raw, exc)}") from None
    if instrument.id != path.stem:
        raise InstrumentError(f"{path}: id {instrument.id} is not the file's name ({path.stem})")
    return instrument


def _where(raw: dict[str, Any], exc: ValidationError) -> str:
    """The first error, its place named as the file's reader finds it: `items[2] (food):
    type: ...`."""
    error = exc.errors()[0]
    loc = list(error["loc"])
    parts: list[str] = []
    node: Any = raw
    for part in loc:
        if isinstance(part, int) and isinstance(node, list):
            entry = node[part] if part < len(node) else None
            name = entry.get("id") or entry.get("flag") if isinstance(entry, dict) else None
            parts[-1] = f"{parts[-1]}[{part}]" + (f" ({name})" if name else "")
            node = entry
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{'.'.join(parts)}: {message}" if parts else message


def find(instrument_id: str, directory: Path | None) -> Path:
    """An instrument's file: the agency's own (`instruments/` beside its programs file)
    first, else the one Casework ships."""
    if directory is not None and (directory / f"{instrument_id}.toml").exists():
        return directory / f"{instrument_id}.toml"
    return SHIPPED_DIR / f"{instrument_id}.toml"


@lru_cache(maxsize=64)
def load_cached(path: Path, stamp: float) -> Instrument:
    return load(path)


def read(instrument_id: str, directory: Path | None) -> Instrument:
    path = find(instrument_id, directory)
    try:
        stamp = path.stat().st_mtime
    except OSError:
        stamp = 0.0
    return load_cached(path, stamp)


# Scoring.


@dataclass(frozen=True)
class Result:
    """What one instrument's answers come to: coded and numbers only."""

    scores: dict[str, float]
    bands: dict[str, str]
    crisis_flags: list[str]
    crisis_domains: list[str]
    risk: RiskLevel
    domain_scores: dict[str, int] = field(default_factory=dict)


def _score(score: Score, instrument: Instrument, answers: dict[str, Any]) -> float | None:
    values: list[float] = []
    for name in score.items:
        item = instrument.item(name)
        answer = answers.get(name)
        if answer is None:
            continue
        if score.rule == "count":
            assert score.count_if is not None
            values.append(1.0 if _holds_for(score.count_if, item, answer) else 0.0)
            continue
        points = item.points(answer)
        if points is None:
            continue
        if name in score.reverse and item.min is not None and item.max is not None:
            points = item.min + item.max - points
        values.append(points)
    if not values:
        return None
    if score.rule in ("sum", "count"):
        return sum(values)
    return min(values) if score.rule == "min" else max(values)


def _holds_for(condition: Test, item: Item | None, answer: Any) -> bool:
    """Whether `answer` (an item's, or with no item a score's) passes the test: `equals` and
    `in` compare the answer itself, `at_least` and `at_most` its points."""
    if answer is None:
        return False
    if condition.equals is not None:
        return _same(answer, condition.equals)
    if condition.in_ is not None:
        return any(_same(answer, wanted) for wanted in condition.in_)
    points = item.points(answer) if item is not None else float(answer)
    if points is None:
        return False
    if condition.at_least is not None:
        return points >= condition.at_least
    return condition.at_most is not None and points <= condition.at_most


def _same(answer: Any, wanted: Any) -> bool:
    if isinstance(answer, list):  # several choices: one of them is the one wanted
        return any(_same(a, wanted) for a in answer)
    if isinstance(answer, bool) or isinstance(wanted, bool):
        return answer is wanted
    if isinstance(answer, (int, float)) and isinstance(wanted, (int, float)):
        return float(answer) == float(wanted)
    return str(answer) == str(wanted)


def _holds(
    condition: Condition, instrument: Instrument, answers: dict[str, Any], scores: dict[str, float]
) -> bool:
    if condition.score is not None:
        return _holds_for(condition, None, scores.get(condition.score))
    item = instrument.item(str(condition.item))
    return _holds_for(condition, item, answers.get(item.id))


def flatten(instrument: Instrument, given: dict[str, Any]) -> dict[str, Any]:
    """An instrument's answers by item, from the form's sections (its text items' are not
    the form's: they are kept apart, models.assessments)."""
    answers: dict[str, Any] = {}
    for section in instrument.sections:
        part = given.get(section.id) or {}
        for item in instrument.section_items(section.id):
            if not item.written:
                answers[item.id] = part.get(item.id)
    return answers


def asked_when(item: Item, instrument: Instrument, answers: dict[str, Any]) -> bool:
    """Whether `item` is asked, given the other answers (by item)."""
    return item.show_if is None or _holds(item.show_if, instrument, answers, {})


def score(instrument: Instrument, answers: dict[str, Any]) -> Result:
    """The instrument's answers (by item) scored as its declaration says."""
    scores: dict[str, float] = {}
    for rule in instrument.scores:
        value = _score(rule, instrument, answers)
        if value is not None:
            scores[rule.id] = value
    bands: dict[str, str] = {}
    for rule in instrument.scores:
        reached = [b.band for b in rule.bands if scores.get(rule.id, float("-inf")) >= b.at_least]
        if reached:
            bands[rule.id] = reached[-1]

    def any_holds(conditions: list[Condition]) -> bool:
        return any(_holds(c, instrument, answers, scores) for c in conditions)

    flags = [rule.flag for rule in instrument.crisis if any_holds(rule.when)]
    domains = sorted({r.domain.value for r in instrument.crisis_domains if any_holds(r.when)})
    if flags:
        risk = RiskLevel.CRITICAL
    else:
        risk = next((r.level for r in instrument.risk if any_holds(r.when)), RiskLevel.LOW)
    domain_scores = {
        item.domain.value: int(answers[item.id])
        for item in instrument.items
        if item.domain is not None
        and item.type == "scale"
        and isinstance(answers.get(item.id), int)
    }
    return Result(scores, bands, flags, domains, risk, domain_scores)


def highest(levels: Iterable[RiskLevel]) -> RiskLevel:
    return max(levels, key=RISK_ORDER.index, default=RiskLevel.LOW)


# The forms.


class Choice(StrEnum):
    """The base of an item's options as a form's type: each member is an option's code, and
    `option_labels` says each as the declaration labels it."""

    @classmethod
    def option_labels(cls) -> dict[str, str]:
        return dict(getattr(cls, "_labels_", {}))


def choice_type(name: str, options: list[Option]) -> type[Choice]:
    """Options as a form's type: its members the codes, labelled as declared."""
    members = {o.code.upper(): o.code for o in options}
    enum: Any = Choice(_camel(name), members)  # type: ignore[call-arg]
    enum._labels_ = {o.code: o.label for o in options}
    return enum  # type: ignore[no-any-return]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _field(instrument: Instrument, item: Item) -> tuple[Any, Any]:
    """An item as a form field: its type, and its FieldInfo (title, description, default)."""
    from casework.models.forms import FormDate, PastDate

    described = _description(item)
    optional = not item.required or item.show_if is not None
    kind: Any
    if item.type == "scale":
        kind = Annotated[int, Field(strict=True, ge=item.min, le=item.max)]
    elif item.type == "number":
        kind = Annotated[float, Field(ge=item.min, le=item.max)]
    elif item.type == "yes_no":
        kind = Annotated[bool, Field(strict=True)]
        if not item.required and item.show_if is None:  # a toggle: left out is "no"
            return kind, Field(default=False, title=item.label, description=described)
    elif item.type == "date":
        kind = PastDate if item.past_only else FormDate
    elif item.type == "choice":
        kind = choice_type(f"{instrument.id}_{item.id}", item.options)
    else:  # choices
        kind = list[choice_type(f"{instrument.id}_{item.id}", item.options)]  # type: ignore[misc]
        return kind, Field(
            default_factory=list,
            max_length=len(item.options),
            title=item.label,
            description=described,
        )
    if optional:
        return kind | None, Field(default=None, title=item.label, description=described)
    return kind, Field(title=item.label, description=described)


def _description(item: Item) -> str | None:
    parts = []
    if item.anchors:
        parts.append(", ".join(f"{point} {text}" for point, text in sorted(item.anchors.items())))
    if item.show_if is not None:
        parts.append(f"answer only when {item.show_if.said()}")
    if item.type == "choices":
        parts.append("choose all that apply")
    return "; ".join(parts) or None


class ChoicesByLabel(BaseModel):
    """A form whose choices (an instrument's options, a program's intake choices) may come
    by their labels, as a Resume dialog sends them: the form keeps their codes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _labels_to_codes(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, info in cls.model_fields.items():
            choice = _choice_in(info.annotation)
            if choice is None or name not in out:
                continue
            by_label = {text: code for code, text in choice.option_labels().items()}
            value = out[name]
            if isinstance(value, list):
                out[name] = [by_label.get(v, v) if isinstance(v, str) else v for v in value]
            elif isinstance(value, str):
                out[name] = by_label.get(value, value)
        return out

    def labelled(self) -> dict[str, Any]:
        """The answers as a Resume dialog gives them: each choice by its label, an answer
        not given left out."""
        given = self.model_dump(mode="json", exclude_none=True)
        for name, info in type(self).model_fields.items():
            choice = _choice_in(info.annotation)
            if choice is not None and isinstance(given.get(name), str):
                given[name] = choice.option_labels().get(given[name], given[name])
        return given


def _choice_in(annotation: Any) -> type[Choice] | None:
    """The options' type a field holds (alone, optional, or in a list), if any."""
    if isinstance(annotation, type) and issubclass(annotation, Choice):
        return annotation
    return next(filter(None, (_choice_in(arg) for arg in typing.get_args(annotation))), None)


class Answers(ChoicesByLabel):
    """One section's answers (a model built per section of each instrument)."""

    __instrument__: ClassVar[Instrument]
    __section__: ClassVar[str]


class InstrumentAnswers(BaseModel):
    """One instrument's answers, by section; its conditional items checked together."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    __instrument__: ClassVar[Instrument]

    @model_validator(mode="after")
    def _conditions(self) -> InstrumentAnswers:
        instrument = self.__instrument__
        answers = self.answers()
        problems = []
        for item in instrument.items:
            if item.show_if is None or item.written:
                continue
            asked = asked_when(item, instrument, answers)
            where = f"{item.section}.{item.id}"
            if not asked and answers.get(item.id) not in (None, []):
                problems.append(f"{where}: answer only when {item.show_if.said()}")
            elif asked and item.required and answers.get(item.id) in (None, []):
                problems.append(f"{where}: required when {item.show_if.said()}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def answers(self) -> dict[str, Any]:
        """The answers by item, as codes, numbers, booleans and ISO dates."""
        return flatten(self.__instrument__, self.model_dump(mode="json"))

    def result(self) -> Result:
        return score(self.__instrument__, self.answers())

    def labelled(self) -> dict[str, Any]:
        """The answers as a Resume dialog gives them: each option by its label, an item left
        unanswered left out (the dialog's schema offers choices, not null)."""
        given = self.model_dump(mode="json", exclude_none=True)
        for item in self.__instrument__.items:
            labels = {o.code: o.label for o in item.options}
            part = given.get(item.section, {})
            if labels and item.id in part:
                value = part[item.id]
                part[item.id] = (
                    [labels.get(v, v) for v in value] if isinstance(value, list) else labels[value]
                )
        return given


def answers_model(instrument: Instrument) -> type[InstrumentAnswers]:
    """The form of one instrument: a model per section, a field per item."""
    fields: dict[str, Any] = {}
    for section in instrument.sections:
        section_fields = {
            item.id: _field(instrument, item)
            for item in instrument.section_items(section.id)
            if not item.written
        }
        if not section_fields:  # words only: the form asks none of it
            continue
        model = create_model(  # type: ignore[call-overload]
            _camel(f"{instrument.id}_{section.id}"),
            __base__=Answers,
            **section_fields,
        )
        model.__instrument__ = instrument
        model.__section__ = section.id
        needed = any(f.is_required() for f in model.model_fields.values())
        fields[section.id] = (
            (model, Field(title=section.title))
            if needed
            else (model, Field(default_factory=model, title=section.title))
        )
    built = create_model(
        _camel(instrument.id) + f"V{instrument.version}",
        __base__=InstrumentAnswers,
        __doc__=f"{instrument.title}, version {instrument.version}",
        **fields,
    )
    built.__instrument__ = instrument
    return built


def example(instrument: Instrument) -> dict[str, Any]:
    """Answers that fit the instrument (for `casework form assessment --example`): each
    item's first option, a scale's middle, conditional items left out when not asked."""
    answers: dict[str, Any] = {}
    for item in instrument.items:
        if item.written or not asked_when(item, instrument, answers):
            continue
        if item.type == "scale" and item.min is not None and item.max is not None:
            answers[item.id] = (item.min + item.max + 1) // 2
        elif item.type == "yes_no":
            answers[item.id] = False
        elif item.type == "choice":
            answers[item.id] = min(item.options, key=lambda o: o.value).code
        elif item.type == "choices":
            answers[item.id] = [min(item.options, key=lambda o: o.value).code]
        elif item.type == "number":
            answers[item.id] = item.min or 0
        else:
            answers[item.id] = date.today().isoformat()
    return {
        section.id: {
            item.id: answers[item.id]
            for item in instrument.section_items(section.id)
            if item.id in answers
        }
        for section in instrument.sections
        if not all(item.written for item in instrument.section_items(section.id))
    }
