"""Goal catalogues: the measurable objectives a plan may set, each in one needs domain with
its stated measure. Casework's own (models.codes.Objective) are every program's; a program
adds its own in its programs-file entry, as data:

    [[housing.goals]]
    code = "obtain_housing_voucher"
    domain = "housing"
    label = "Obtain a housing voucher"
    measure = "voucher issued"

A program's plan and monitoring forms offer its catalogue (models.lifecycle.form_for), and a
goal's code has one label wherever it is shown, as every code does (models.labels)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from casework.models.codes import NeedsDomain, Objective, Program
from casework.models.labels import words

GoalCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class GoalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: GoalCode
    domain: NeedsDomain
    label: Annotated[str, Field(min_length=1, max_length=120)]  # the objective in words
    measure: Annotated[str, Field(min_length=1, max_length=200)]  # how it is known met

    @property
    def shown(self) -> str:
        """As every surface shows it: "Housing: obtain a housing voucher (voucher issued)"."""
        objective = self.label[:1].lower() + self.label[1:]
        return f"{words(self.domain.value)}: {objective} ({self.measure})"


SHIPPED: tuple[GoalSpec, ...] = tuple(
    GoalSpec(
        code=objective.value,
        domain=objective.spec.domain,
        label=words(objective.value),
        measure=objective.spec.measure,
    )
    for objective in Objective
)


def catalogue(program: Program) -> tuple[GoalSpec, ...]:
    """The goals `program`'s plans may set: Casework's, then the program's own."""
    from casework.models.programs import programs

    return SHIPPED + tuple(programs()[program].goals)


def own_goals_tag(program: Program) -> str | None:
    """A short name for the program's own goals (None: it has none): a run waiting at plan
    or monitoring carries it, so a changed catalogue carries the run over."""
    from casework.models.programs import programs

    own = programs()[program].goals
    if not own:
        return None
    named = "+".join(spec.model_dump_json() for spec in own)
    return "g" + hashlib.sha256(f"{program.value}:{named}".encode()).hexdigest()[:8]


def find(code: str) -> GoalSpec | None:
    """A goal by its code, in any program's catalogue (a code names one goal everywhere)."""
    from casework.models.programs import programs

    every = SHIPPED + tuple(spec for config in programs().values() for spec in config.goals)
    return next((spec for spec in every if spec.code == code), None)
