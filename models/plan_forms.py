"""Each program's plan and monitoring forms: Casework's own, offering the program's goal
catalogue (models.goals) when the program adds goals of its own. A program without its
own goals takes the forms as declared in models.forms."""

from __future__ import annotations

from typing import Any

from pydantic import Field, create_model

from casework.models.codes import Program
from casework.models.forms import Goal, GoalUpdate, MonitoringForm, PlanForm
from casework.models.goals import GoalSpec, catalogue
from casework.models.instruments import Option, choice_type

_BUILT: dict[tuple[str, ...], tuple[type[PlanForm], type[MonitoringForm]]] = {}


def plan_form(program: Program) -> type[PlanForm]:
    return _forms(program)[0]


def monitoring_form(program: Program) -> type[MonitoringForm]:
    return _forms(program)[1]


def _forms(program: Program) -> tuple[type[PlanForm], type[MonitoringForm]]:
    goals = catalogue(program)
    if len(goals) == len(Goal.__catalogue__):
        return PlanForm, MonitoringForm
    key = tuple(spec.model_dump_json() for spec in goals)
    if key not in _BUILT:
        _BUILT[key] = _build(goals)
    return _BUILT[key]


def _build(goals: tuple[GoalSpec, ...]) -> tuple[type[PlanForm], type[MonitoringForm]]:
    objective = choice_type("objective", [Option(code=s.code, label=s.shown) for s in goals])
    goal: Any = create_model("Goal", __base__=Goal, objective=(objective, ...))
    goal.__catalogue__ = {spec.code: spec for spec in goals}
    update: Any = create_model("GoalUpdate", __base__=GoalUpdate, objective=(objective, ...))
    plan: type[PlanForm] = create_model(
        "PlanForm",
        __base__=PlanForm,
        __doc__=PlanForm.__doc__,
        goals=(list[goal], Field(min_length=1, max_length=20)),
    )
    monitoring: type[MonitoringForm] = create_model(
        "MonitoringForm",
        __base__=MonitoringForm,
        __doc__=MonitoringForm.__doc__,
        goal_updates=(list[update], Field(default_factory=list, max_length=20)),
    )
    return plan, monitoring
