"""What a case's Resume dialog shows: the stage form's JSON schema, shaped for a case
manager. The Prefect UI builds its dialog from this schema and validates the form against
it (and the server again on resume), so what is shaped here is also refused there, before
the flow sees it:

- a title and a markdown description naming the stage and the case number, and why the
  last form at this stage was refused, if one was;
- every coded choice listed by its label (the form is read back as codes);
- "Submitted by" a choice among the program's active staff, from the staff roster;
- required fields required, optional ones with their defaults, toggles never "(Optional)";
- the guards a schema can state: a plan agreed with the client, a goal for every domain
  the assessment found in crisis.

Pure: a dict in, a dict out, no Prefect. Codes and labels only; nothing about the client."""

from __future__ import annotations

import copy
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter

from casework.models.codes import Program, Stage
from casework.models.forms import PlanForm, StageForm
from casework.models.goals import GoalSpec
from casework.models.instruments import Choice
from casework.models.labels import field_title, label

REF = "#/definitions/"


@dataclass(frozen=True)
class DialogContext:
    """What the dialog says about the case: all coded."""

    case_number: str
    program: str
    stage: Stage
    purpose: str
    staff: tuple[str, ...]
    crisis_domains: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()  # the directory's active providers for the program
    refused: str | None = None  # why the last form at this stage was refused
    refused_by: str | None = None
    refused_at: str | None = None
    returned: bool = False  # the last form was a supervisor's return, not a refusal
    elsewhere: str | None = None  # what the form asks in words, on the desk or the CLI only


def title(context: DialogContext) -> str:
    return f"{label(context.stage)} form for {context.case_number}"


def description(context: DialogContext) -> str:
    """The dialog's markdown: which form, for which case, and the last refusal."""
    lines = [
        f"### {title(context)}",
        f"{label(Program(context.program))} program: {context.purpose}.",
    ]
    if context.crisis_domains:
        lines.append(
            "The plan needs a goal for every domain the assessment found in crisis: "
            f"**{', '.join(label(d) for d in context.crisis_domains)}**."
        )
    if context.elsewhere:
        lines.append(context.elsewhere)
    if context.refused and context.returned:
        lines.append(
            f"**The last {label(context.stage).lower()} form was returned** by "
            f"`{context.refused_by}` ({context.refused_at}) for correction. The reason, and "
            "the form as it was given, are on the case's desk page (`casework show`)."
        )
    elif context.refused:
        who = f" (submitted by `{context.refused_by}`, {context.refused_at})"
        lines.append(
            f"**The last {label(context.stage).lower()} form was refused**{who}: "
            f"{context.refused}. "
            "Fix that and submit again."
        )
    return "\n\n".join(lines)


def _models(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The form's model classes by name (the names of its schema definitions)."""
    found: dict[str, type[BaseModel]] = {model.__name__: model}
    for annotation in _annotations(model):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.update(_models(annotation))
    return found


def _annotations(model: type[BaseModel]) -> list[Any]:
    """Every type the model's fields name, inside lists and optionals too."""
    found = []
    for info in model.model_fields.values():
        pending = [info.annotation]
        while pending:
            annotation = pending.pop()
            found.append(annotation)
            pending.extend(typing.get_args(annotation))
    return found


def _own_labels(models: dict[str, type[BaseModel]]) -> dict[str, dict[str, str]]:
    """An instrument's options by their enum's name: labelled as the declaration says."""
    return {
        annotation.__name__: annotation.option_labels()
        for model in models.values()
        for annotation in _annotations(model)
        if isinstance(annotation, type) and issubclass(annotation, Choice)
    }


def _shape_object(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Titles and defaults for one object schema of `model` (its enums are inlined and
    labelled already)."""
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        ref = prop.get("$ref", "").removeprefix(REF)
        info = model.model_fields[name]
        prop["title"] = info.title or field_title(name)
        items = prop.get("items", {})
        if name not in required:
            assert info.annotation is not None
            value = info.get_default(call_default_factory=True)
            if value is None and _one_choice_or_none(prop):
                continue  # optional: left empty unless chosen
            default = TypeAdapter[Any](info.annotation).dump_python(value, mode="json")
            if "enum" in prop:
                default = prop.get(LABELLED, {}).get(default) or label(default)
            elif "enum" in items:
                default = [items.get(LABELLED, {}).get(v) or label(v) for v in default]
            prop["default"] = default
            # A toggle always has a value, and a screen of toggles is always answered:
            # neither is "(Optional)".
            if prop.get("type") == "boolean" or ref:
                schema.setdefault("required", []).append(name)


def _one_choice_or_none(prop: dict[str, Any]) -> bool:
    """An optional value (`anyOf` of one kind and null) becomes that kind alone, shown as
    a field left empty, not as Prefect's picker between the kinds ("str | None")."""
    kinds = [kind for kind in prop.get("anyOf", []) if kind.get("type") != "null"]
    if len(kinds) != 1 or len(prop["anyOf"]) != 2:
        return False
    del prop["anyOf"]
    prop.pop("default", None)
    prop.update({k: v for k, v in kinds[0].items() if k not in prop})
    return True


LABELLED = "x-labelled"  # while shaping: an instrument's option labels by code


def _inline_enums(node: Any, enums: dict[str, Any], own: dict[str, dict[str, str]]) -> None:
    """Every reference to an enum, wherever it sits (an item, an optional value), replaced
    by the enum itself; every list of coded choices labelled (an instrument's options as
    its declaration labels them)."""
    if isinstance(node, list):
        for item in node:
            _inline_enums(item, enums, own)
    elif isinstance(node, dict):
        ref = node.get("$ref", "").removeprefix(REF)
        if ref in enums:
            del node["$ref"]
            node.update({k: v for k, v in enums[ref].items() if k not in node and k != "title"})
        if ref in own:
            node[LABELLED] = own[ref]
            node["enum"] = [own[ref].get(v, v) for v in node["enum"]]
        elif all(isinstance(v, str) for v in node.get("enum", [None])):  # coded choices
            node["enum"] = [label(v) for v in node["enum"]]
        for key, value in node.items():
            if key == "definitions":  # the models' definitions, not the enums' own
                _inline_enums([d for name, d in value.items() if name not in enums], enums, own)
            elif key != LABELLED:
                _inline_enums(value, enums, own)


def _drop_labelled(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _drop_labelled(item)
    elif isinstance(node, dict):
        node.pop(LABELLED, None)
        for value in node.values():
            _drop_labelled(value)


def dialog_schema(
    schema: dict[str, Any], form: type[StageForm], context: DialogContext
) -> dict[str, Any]:
    """`schema` (the form's JSON schema as Prefect stores it, definitions under
    `definitions`) shaped for this case's dialog."""
    shaped = copy.deepcopy(schema)
    definitions: dict[str, Any] = shaped.get("definitions", {})
    enums = {name: d for name, d in definitions.items() if "enum" in d}
    models = _models(form)
    _inline_enums(shaped, enums, _own_labels(models))
    _shape_object(shaped, form)
    for name, definition in definitions.items():
        if name in models and name != form.__name__:
            _shape_object(definition, models[name])
    for name in enums:
        definitions.pop(name)
    _drop_labelled(shaped)
    shaped.pop("$defs", None)
    shaped["title"] = title(context)
    shaped["properties"]["submitted_by"] = {
        "title": "Submitted by",
        "description": f"your staff id: active staff of {label(Program(context.program))}",
        "type": "string",
        "enum": list(context.staff),
    }
    if issubclass(form, PlanForm):
        _plan_goals(definitions["Goal"])
        _plan_guards(shaped, context, models["Goal"])
    if "ReferralRequest" in definitions and context.providers:
        # Named, not offered as a fixed list: the schema is stored as the case starts
        # waiting, and a provider imported after that must still be accepted.
        provider = definitions["ReferralRequest"]["properties"]["provider"]
        provider["description"] = (
            f"provider id; serving {label(Program(context.program))} now: "
            f"{', '.join(context.providers[:NAMED_PROVIDERS])}"
            f"{more(len(context.providers) - NAMED_PROVIDERS)}; or a directory-only service from "
            "`casework providers list` (no electronic referral: made and tracked by hand)"
        )
    return shaped


NAMED_PROVIDERS = 25  # a dialog names this many; `casework providers list` has them all


def more(count: int) -> str:
    return f" and {count} more" if count > 0 else ""


def _plan_goals(goal: dict[str, Any]) -> None:
    """A goal is chosen by its objective alone, whose label names its domain and measure:
    the domain follows from it (the Prefect UI cannot narrow one list by another's value)."""
    del goal["properties"]["domain"]
    goal["required"].remove("domain")
    goal.pop("additionalProperties")  # a form from the CLI still names the domain: allowed
    goal["properties"]["objective"]["description"] = "domain: objective (how it is measured)"


def _objectives_of(goal: type[BaseModel], domain: str) -> list[str]:
    """The objectives of the plan's goal catalogue in `domain`, as the dialog lists them."""
    catalogue: dict[str, GoalSpec] = getattr(goal, "__catalogue__", {})
    return [spec.shown for spec in catalogue.values() if spec.domain.value == domain]


def _plan_guards(shaped: dict[str, Any], context: DialogContext, goal: type[BaseModel]) -> None:
    agreed = shaped["properties"]["client_participated"]
    agreed["enum"] = [True]
    agreed["description"] = "a plan is agreed with the client: must be on"
    if context.crisis_domains:
        goals = shaped["properties"]["goals"]
        goals["allOf"] = [
            {
                "contains": {
                    "properties": {"objective": {"enum": _objectives_of(goal, domain)}},
                    "required": ["objective"],
                }
            }
            for domain in context.crisis_domains
        ]
        goals["description"] = (
            f"at least one goal for each of: {', '.join(label(d) for d in context.crisis_domains)}"
        )
