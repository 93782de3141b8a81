"""Program configuration (SLA days per stage, cadence, caseload limits, the instruments
its assessment is made of, its own intake fields and goals), read from one TOML file and
checked at load: every program and every stage must be present, and every instrument named
must be declared and valid (an agency's own in `instruments/` beside its programs file,
else Casework's)."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from casework.core.errors import UserError
from casework.models import instruments
from casework.models.codes import Program, RecipientRole, Stage
from casework.models.forms import StaffId
from casework.models.goals import SHIPPED, GoalSpec
from casework.models.instruments import Code as InstrumentId
from casework.models.instruments import Instrument
from casework.models.intake_fields import IntakeField, unique_fields
from casework.models.labels import register_label

DEFAULT_PROGRAMS_FILE = Path(__file__).with_name("programs.toml")
DEFAULT_INSTRUMENT = "self_sufficiency_matrix"


class ProgramError(UserError):
    """The program configuration file is missing, malformed or incomplete."""


class HmisProject(BaseModel):
    """A HUD-funded program as an HMIS project (`[housing.hmis]`): what the HMIS CSV
    export's Project and Funder files say of it. Declaring it makes the program ask HMIS's
    data elements at project start, at monitoring reviews and at exit
    (models/hmis_data/elements.toml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")
    # HMIS 2.02.6 ProjectType, e.g. 13 (PH - Rapid Re-Housing); 2.06.1 FundingSource, e.g.
    # 3 (HUD: CoC - Rapid Re-Housing); the grant's id as HUD gave it.
    project_type: int
    funder: int
    grant_id: str = Field(min_length=1, max_length=100)
    operating_start: date
    continuum_project: bool = True
    victim_service_provider: bool = False
    # HMIS 3.16: the Continuum of Care the project's clients enroll in ("XX-500").
    coc_code: str | None = Field(default=None, pattern=r"^[A-Z]{2}-\d{3}$")

    @model_validator(mode="after")
    def _coded(self) -> HmisProject:
        from casework.models import hmis

        for field, list_code in (("project_type", "2.02.6"), ("funder", "2.06.1")):
            if getattr(self, field) not in hmis.hud_lists()[list_code]:
                raise ValueError(f"{field}: {getattr(self, field)} is not in HMIS list {list_code}")
        return self


class Retention(BaseModel):
    """How long a program keeps what identifies its clients, in years (a
    `[PROGRAM.retention]` table; models.record_retention). Without one, it keeps
    everything, as before."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # After a case closed: its notes, narratives and other free text, documents, files.
    records_years: int = Field(ge=1, le=100)
    # After the client's last case closed: their identity (names, birth day, ID, contact).
    identity_years: int = Field(ge=1, le=100)
    # Both, for a client who was a minor when the case opened, where this is longer.
    minor_years: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _identity_outlasts_records(self) -> Retention:
        if self.identity_years < self.records_years:
            raise ValueError("identity_years: identity is kept at least as long as records_years")
        return self


class ProgramConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    contact_interval_days: int = Field(gt=0)
    reassessment_interval_days: int = Field(gt=0)
    recommended_caseload: int = Field(gt=0)
    maximum_caseload: int = Field(gt=0)
    referral_response_days: int = Field(gt=0)
    escalation_interval_days: int = Field(gt=0)
    # A missed appointment with no new one booked within this many days is escalated.
    rebook_within_days: int = Field(default=7, gt=0)
    # Messages to clients (models.messages): a check-in this many days before the contact
    # interval lapses; a reminder this many days before a recertification date or an
    # aid-continuing deadline; and, discreet (the default), messages that never name the
    # program, whom the client sees, where, or which benefit.
    check_in_days_before: int = Field(default=3, ge=1)
    reminder_days_before: int = Field(default=7, ge=1)
    discreet_messages: bool = True
    supervisor: StaffId
    program_manager: StaffId
    webhook_url: HttpUrl | None = None
    sla_days: dict[Stage, int]
    # The instruments the program's assessment asks, in order (files in instruments/).
    assessment: list[InstrumentId] = Field(
        default_factory=lambda: [DEFAULT_INSTRUMENT], min_length=1, max_length=8
    )
    # Intake fields of the program's own, beyond the core identity (models.intake_fields).
    intake: list[IntakeField] = Field(default_factory=list, max_length=60)
    # Goals of the program's own, beside Casework's (models.goals).
    goals: list[GoalSpec] = Field(default_factory=list, max_length=100)
    # Questions of the program's own on a stage's form (models.stage_questions).
    plan: list[IntakeField] = Field(default_factory=list, max_length=30)
    referral: list[IntakeField] = Field(default_factory=list, max_length=30)
    monitoring: list[IntakeField] = Field(default_factory=list, max_length=30)
    closure: list[IntakeField] = Field(default_factory=list, max_length=30)
    # A HUD-funded program: its HMIS project (its forms then ask HMIS's questions).
    hmis: HmisProject | None = None
    # The stages whose form waits for a supervisor's approval before the case moves on
    # (models.approvals): assessment, plan, closure; and the days a form may wait for it
    # before it is on the supervisor's due list as overdue and on the escalation ladder.
    approvals: list[Stage] = Field(default_factory=lambda: [Stage.PLAN, Stage.CLOSURE])
    approval_days: int = Field(default=2, gt=0)
    # Referrals go only under a consent the client signed (on the desk, or a signed scan
    # attached); otherwise a consent staff recorded covers them too.
    signed_consent: bool = False
    # How long its records are kept; none: kept for ever (the agency's rules say).
    retention: Retention | None = None
    # Read from the files named in `assessment`, when the programs file is loaded.
    instruments: tuple[Instrument, ...] = Field(default=(), exclude=True)

    @model_validator(mode="after")
    def _approvable(self) -> ProgramConfig:
        from casework.models.codes import APPROVABLE

        wrong = [stage.value for stage in self.approvals if stage.value not in APPROVABLE]
        if wrong:
            raise ValueError(
                f"approvals: {', '.join(wrong)} cannot wait for approval; "
                f"choose from {', '.join(APPROVABLE)}"
            )
        return self

    def recipient(self, role: RecipientRole, case_manager: str) -> str:
        """The staff id an escalation at `role` goes to."""
        if role is RecipientRole.SUPERVISOR:
            return self.supervisor
        if role is RecipientRole.PROGRAM_MANAGER:
            return self.program_manager
        return case_manager

    @model_validator(mode="before")
    @classmethod
    def _hmis_questions(cls, raw: Any) -> Any:
        """A HUD-funded program's intake details, monitoring and closure forms end with
        HMIS's questions."""
        from casework.models import hmis

        if not isinstance(raw, dict):
            return raw
        for where in ("intake", "plan", "referral", "monitoring", "closure"):
            for number, field in enumerate(raw.get(where) or ()):
                if isinstance(field, dict) and str(field.get("id", "")).startswith(hmis.PREFIX):
                    raise ValueError(
                        f"{where}[{number}]: {field['id']}: ids starting {hmis.PREFIX} are "
                        "HMIS's questions, asked when the program declares `hmis`"
                    )
        if raw.get("hmis") is None:
            return raw
        return {
            **raw,
            "intake": [*raw.get("intake", ()), *hmis.questions("start")],
            "monitoring": [*raw.get("monitoring", ()), *hmis.questions("update")],
            "closure": [*raw.get("closure", ()), *hmis.questions("exit")],
        }

    @model_validator(mode="after")
    def _complete(self) -> ProgramConfig:
        missing = set(Stage) - set(self.sla_days)
        if missing:
            raise ValueError(f"sla_days lacks {', '.join(sorted(s.value for s in missing))}")
        if any(days <= 0 for days in self.sla_days.values()):
            raise ValueError("sla_days must all be positive")
        if self.maximum_caseload < self.recommended_caseload:
            raise ValueError("maximum_caseload is below recommended_caseload")
        if len(set(self.assessment)) != len(self.assessment):
            raise ValueError("assessment names an instrument twice")
        for where in ("intake", "plan", "referral", "monitoring", "closure"):
            if problem := unique_fields(getattr(self, where), where):
                raise ValueError(problem)
        shipped = {spec.code for spec in SHIPPED}
        codes = [goal.code for goal in self.goals]
        for number, code in enumerate(codes):
            if code in shipped:
                raise ValueError(f"goals[{number}] ({code}): {code} is one of Casework's own goals")
            if codes.index(code) != number:
                raise ValueError(f"goals[{number}] ({code}): declared twice")
        return self


def stage_due_on(program: Program, stage: Stage, entered_at: datetime) -> date:
    """The date a case should have left `stage`: when it entered plus the program's SLA."""
    config = programs()[program]
    return entered_at.date() + timedelta(days=config.sla_days[stage])


def programs() -> dict[Program, ProgramConfig]:
    """The configured programs (CASEWORK_PROGRAMS_FILE, or the shipped file)."""
    return load_programs(configured_programs_file())


def configured_programs_file() -> Path:
    from casework.core.settings import get_settings

    return get_settings().programs_file or DEFAULT_PROGRAMS_FILE


def read_toml(path: Path, variable: str) -> dict[str, Any]:
    """A configuration file's TOML; one line naming the variable and file if it is bad."""
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProgramError(f"{variable}: {path}: {exc}") from None
    except UnicodeDecodeError:
        raise ProgramError(f"{variable}: {path} is not UTF-8 text") from None


@lru_cache(maxsize=4)
def load_programs(path: Path = DEFAULT_PROGRAMS_FILE) -> dict[Program, ProgramConfig]:
    raw = read_toml(path, "CASEWORK_PROGRAMS_FILE")
    unknown = set(raw) - {p.value for p in Program}
    if unknown:
        raise ProgramError(f"{path}: unknown program(s) {', '.join(sorted(unknown))}")
    programs: dict[Program, ProgramConfig] = {}
    own = instruments_dir(path)
    for program in Program:
        if program.value not in raw:
            raise ProgramError(f"{path}: program {program.value} is missing")
        try:
            config = ProgramConfig.model_validate(raw[program.value])
        except ValidationError as exc:
            error = exc.errors()[0]
            where = "".join(f".{part}" for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ProgramError(f"{path}: {program.value}{where}: {message}") from None
        for name in config.assessment:
            if not instruments.find(name, own).exists():
                raise ProgramError(
                    f"{path}: {program.value}.assessment: no instrument {name} "
                    f"(no file {own / (name + '.toml')})"
                )
        declared = tuple(instruments.read(name, own) for name in config.assessment)
        for number, goal in enumerate(config.goals):
            if problem := register_label(goal.code, goal.shown):
                raise ProgramError(
                    f"{path}: {program.value}.goals[{number}] ({goal.code}): {problem}"
                )
        programs[program] = config.model_copy(update={"instruments": declared})
    return programs


def instruments_dir(programs_file: Path) -> Path:
    """Where an agency keeps its own instruments: `instruments/` beside its programs file
    (Casework's own file keeps them beside it too, so that is where they are found)."""
    return programs_file.parent / "instruments"


def program_instruments(program: Program) -> tuple[Instrument, ...]:
    """The instruments `program`'s assessment asks, as declared now."""
    return programs()[program].instruments
