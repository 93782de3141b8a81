"""The desk's pages of work: my day, my caseload, find a client, intake, the case (its
stage form, notes, referrals and consent, benefits and notices, documents, reassessment),
and a supervisor's team. Each runs as the signed-in staff member (`acting`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from casework import services
from casework.core.errors import InputError, UserError
from casework.core.settings import get_settings
from casework.desk import forms
from casework.desk.forms import Group, Input, Posted, Upload, posted, uploaded
from casework.desk.sessions import DeskSession
from casework.desk.words import plain
from casework.models import access
from casework.models.attachments import ACCEPTED
from casework.models.codes import (
    STAFF_CONTACT_TYPES,
    AppointmentKind,
    AppointmentStatus,
    AttachmentKind,
    ConsentKind,
    ConsentScope,
    ContactType,
    MessageChannel,
    NewClientReason,
    Objective,
    Program,
    ReassessmentReason,
    StaffRole,
    Stage,
    TransferReason,
)
from casework.models.forms import WrittenRefused
from casework.models.intake_fields import member_form_of
from casework.models.labels import field_title, label
from casework.models.lifecycle import form_for
from casework.models.schemas import ApprovalOut, CaseDetail, ClientIn, ContactIn
from casework.models.workspace import SORTS

Acting = Callable[[Request], AbstractContextManager[DeskSession]]
Render = Callable[..., HTMLResponse]
DOCUMENT_KINDS = ("plan", "referral", "notes", "closure")
DESK_FORMATS = ("pdf", "html")  # printed, or read in the browser
SUBMIT_SECONDS = 60.0  # how long the desk waits for the case's run to record a form


def _one(form: Posted, name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def _enum(kind: Any, raw: str | None) -> Any:
    try:
        return kind(raw) if raw else None
    except ValueError:
        return None


def register(  # noqa: C901 - the table of routes
    app: FastAPI,
    acting: Acting,
    render: Render,
    checked: Callable[[DeskSession, Posted], Posted],
) -> None:
    def see_other(to: str) -> Response:
        return RedirectResponse(to, status_code=303)

    @contextmanager
    def working_on(request: Request, case_number: str, form: Posted) -> Iterator[DeskSession]:
        """A form posted on a case's page: as the signed-in staff member, who must work on
        the case, the form checked as theirs."""
        with acting(request) as held:
            services.workspace.check_works_on(held.member, case_number)
            checked(held, form)
            yield held

    @app.get("/")
    def home(request: Request) -> Response:
        with acting(request) as held:
            if held.member.role is StaffRole.PROGRAM_MANAGER:
                return see_other("/caseload")
            return see_other("/day")

    @app.get("/day", response_class=HTMLResponse)
    def day(request: Request) -> Response:
        with acting(request) as held:
            return render("day.html", held, day=services.workspace.my_day(held.member))

    @app.get("/caseload", response_class=HTMLResponse)
    def caseload(
        request: Request,
        program: str | None = None,
        stage: str | None = None,
        sort: str = "longest",
        page: int = 1,
    ) -> Response:
        with acting(request) as held:
            chosen_program, chosen_stage = _enum(Program, program), _enum(Stage, stage)
            mine = held.member.role is StaffRole.CASE_MANAGER
            found = services.workspace.caseload(
                held.member,
                mine=mine,
                program=chosen_program,
                stage=chosen_stage,
                sort=sort if sort in SORTS else "longest",
                page=page,
            )
            return render(
                "caseload.html",
                held,
                page=found,
                mine=mine,
                identity=access.sees_identity(held.member),
                programs=sorted(p.value for p in held.member.programs),
                stages=[s.value for s in Stage],
                chosen={"program": program or "", "stage": stage or "", "sort": sort},
                sorts=list(SORTS),
            )

    @app.api_route("/find", methods=["GET", "POST"], response_class=HTMLResponse)
    def find(request: Request, form: Annotated[Posted, Depends(posted)]) -> Response:
        with acting(request) as held:
            identity = access.sees_identity(held.member)
            if request.method == "GET":
                return render("find.html", held, rows=None, wanted="", identity=identity)
            checked(held, form)
            wanted = _one(form, "wanted")
            if not wanted:
                return render(
                    "find.html",
                    held,
                    rows=None,
                    wanted="",
                    identity=identity,
                    error="Type a client number, a case number or a name.",
                )
            rows = services.workspace.find(held.member, wanted)
            return render("find.html", held, rows=rows, wanted=wanted, identity=identity)

    # -- intake ---------------------------------------------------------------------------

    @app.api_route("/intake", methods=["GET", "POST"], response_class=HTMLResponse)
    def intake(request: Request, form: Annotated[Posted, Depends(posted)]) -> Response:
        with acting(request) as held:
            if not access.sees_identity(held.member):
                return render(
                    "refused.html",
                    held,
                    403,
                    what="Intake is a case manager's or a supervisor's work.",
                )
            values = forms.flat(form) if form else {}
            context = _intake_context(held, values)
            if request.method == "GET":
                return render("intake.html", held, **context)
            checked(held, form)
            return _take_in(held, values, context, render, see_other)

    # -- the case -------------------------------------------------------------------------

    @app.get("/cases/{case_number}", response_class=HTMLResponse)
    def case_page(request: Request, case_number: str) -> Response:
        with acting(request) as held:
            return _case(held, case_number, render, {}, forms.Refusals())

    @app.post("/cases/{case_number}/form", response_class=HTMLResponse)
    def stage_form(
        request: Request, case_number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        with working_on(request, case_number, form) as held:
            return _submit(held, case_number, forms.flat(form), render, see_other)

    @app.post("/cases/{case_number}/note", response_class=HTMLResponse)
    def note(
        request: Request, case_number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        with working_on(request, case_number, form) as held:
            values = forms.flat(form)
            try:
                data = ContactIn(
                    contact_type=_one(form, "contact_type") or ContactType.NOTE,
                    crisis=_one(form, "crisis") == "yes",
                    text=_one(form, "text"),
                )
            except ValidationError as exc:
                refused = forms.from_validation(exc)
                return _case(held, case_number, render, {"note": values}, refused, anchor="notes")
            warning = services.cases.note(case_number, data, held.staff_id)
            held.said.append(warning or "Your note is saved.")
            return see_other(f"/cases/{case_number}#notes")

    @app.post("/cases/{case_number}/intake-details", response_class=HTMLResponse)
    def intake_details(
        request: Request, case_number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        with working_on(request, case_number, form) as held:
            values = forms.flat(form)
            model, _ = _intake_form(services.stages.program_of(case_number))
            data = forms.to_data(model, values)
            kept = {"intake": values}
            try:
                model.model_validate(data)  # refused beside its fields, as the stage form is
                answered = services.cases.record_intake_details(case_number, data, held.staff_id)
            except ValidationError as exc:
                refused = forms.from_validation(exc)
                return _case(held, case_number, render, kept, refused, anchor="intake-details")
            except UserError as exc:
                refused = forms.Refusals(general=[str(exc)])
                return _case(held, case_number, render, kept, refused, anchor="intake-details")
            held.said.append(f"The intake details are recorded ({answered} answered).")
            return see_other(f"/cases/{case_number}#intake-details")

    @app.post("/cases/{case_number}/members/{client_number}/answers", response_class=HTMLResponse)
    def member_answers(
        request: Request,
        case_number: str,
        client_number: str,
        form: Annotated[Posted, Depends(posted)],
    ) -> Response:
        """A household member's answers to HMIS's start questions (a HUD-funded program)."""
        with working_on(request, case_number, form) as held:
            values = forms.flat(form)
            model, _ = member_form_of(services.stages.program_of(case_number))
            prefix = member_prefix(client_number)
            data = forms.to_data(model, values, prefix)
            kept = {"member": {"client": client_number.upper(), **values}}
            try:
                model.model_validate(data)  # refused beside its fields, as intake details are
                answered = services.cases.record_intake_details(
                    case_number, data, held.staff_id, member=client_number
                )
            except ValidationError as exc:
                refused = forms.from_validation(exc)
                refused.by_field = {prefix + k: v for k, v in refused.by_field.items()}
                return _case(held, case_number, render, kept, refused, anchor="household")
            except UserError as exc:
                refused = forms.Refusals(general=[str(exc)])
                return _case(held, case_number, render, kept, refused, anchor="household")
            held.said.append(
                f"The HMIS answers of {client_number.upper()} are recorded ({answered} answered)."
            )
            return see_other(f"/cases/{case_number}#household")

    def on_case(
        request: Request,
        case_number: str,
        form: Posted,
        part: str,
        act: Callable[..., str],
        keep: str | None = None,
        place: Callable[[str], dict[str, list[str]]] | None = None,
    ) -> Response:
        """A change to a case from one of its page's parts (`part`: its anchor): done as
        the signed-in staff member, said at the top of the page; refused, said in its part
        of the page (beside its field, where `place` finds one), what was typed kept for
        the part's form (`keep`: its name), and nothing done."""
        with working_on(request, case_number, form) as held:
            try:
                said = act(held)
            except UserError as exc:
                refused = forms.Refusals(by_field=place(str(exc)) if place else {part: [str(exc)]})
                kept = {keep: forms.flat(form)} if keep else {}
                return _case(held, case_number, render, kept, refused, anchor=part)
            held.said.append(said)
            return see_other(f"/cases/{case_number}#{part}")

    @app.post("/cases/{case_number}/consent", response_class=HTMLResponse)
    def consent(
        request: Request, case_number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        def act(held: DeskSession) -> str:
            provider = _one(form, "provider") or "*"
            try:
                given = date.fromisoformat(_one(form, "given_on"))
                ends = _one(form, "expires_on")
                expires = date.fromisoformat(ends) if ends else None
            except ValueError:
                raise InputError("Give the consent's dates as dates.") from None
            number = services.referrals.give_consent(
                case_number,
                provider,
                given,
                held.staff_id,
                kind=_enum(ConsentKind, _one(form, "kind")) or ConsentKind.CONSENT_TO_SHARE,
                scope=_enum(ConsentScope, _one(form, "scope")) or ConsentScope.REFERRAL_DETAILS,
                expires_on=expires,
            )
            whom = "any partner agency of the program" if provider == "*" else provider
            return f"Consent {number} to share with {whom} is recorded; the client signs it next."

        return on_case(request, case_number, form, "referrals", act)

    @app.post("/cases/{case_number}/consents/{number}/sign", response_class=HTMLResponse)
    def sign_consent(
        request: Request, case_number: str, number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        def act(held: DeskSession) -> str:
            kept = services.referrals.sign_consent(
                case_number, number, _one(form, "signed_name"), _one(form, "signature"),
                held.staff_id,
            )  # fmt: skip
            return f"{number} is signed, witnessed by you; the signed form is {kept}."

        return on_case(request, case_number, form, "referrals", act, keep="signing")

    @app.post("/cases/{case_number}/consents/{number}/scan", response_class=HTMLResponse)
    def signed_scan(
        request: Request,
        case_number: str,
        number: str,
        upload: Annotated[Upload, Depends(uploaded)],
    ) -> Response:
        def act(held: DeskSession) -> str:
            if not upload.data:
                raise InputError("Choose the scan of the signed form.")
            kept = services.referrals.attach_signed_scan(
                case_number, number, upload.data, upload.name, held.staff_id
            )
            return f"{number} is signed: the scan of the signed form is {kept}."

        return on_case(request, case_number, upload.form, "referrals", act)

    @app.post("/cases/{case_number}/appointments", response_class=HTMLResponse)
    def book_appointment(
        request: Request, case_number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        def act(held: DeskSession) -> str:
            values = forms.flat(form)
            kind = _enum(AppointmentKind, values.get("kind"))
            if kind is None:
                raise InputError("--kind: choose the kind of appointment")
            booked = services.appointments.book(
                case_number,
                str(values.get("at") or ""),
                kind,
                str(values.get("with_whom") or ""),
                str(values.get("place") or ""),
                held.staff_id,
            )
            return f"{booked.number} is booked for {booked.local}."

        return on_case(
            request, case_number, form, "appointments", act, "appointment", _option_refusal
        )

    @app.post("/cases/{case_number}/appointments/{number}", response_class=HTMLResponse)
    def appointment_outcome(
        request: Request, case_number: str, number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        def act(held: DeskSession) -> str:
            outcome = _enum(AppointmentStatus, _one(form, "outcome"))
            if outcome is None:
                raise InputError("Choose what became of the appointment.")
            services.appointments.check_on_case(number, case_number)
            moved_to = _one(form, "rescheduled_to") or None
            row, new = services.appointments.record(number, outcome, held.staff_id, moved_to)
            said = f"{row.number} is recorded as {label(row.status).lower()}."
            return f"{said} It is now {new.number}, {new.local}." if new else said

        return on_case(request, case_number, form, "appointments", act)

    @app.post("/cases/{case_number}/messaging", response_class=HTMLResponse)
    def messaging(
        request: Request, case_number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        def act(held: DeskSession) -> str:
            values = forms.flat(form)
            allow = _enum(MessageChannel, values.get("allow"))
            try:
                on = date.fromisoformat(str(values.get("on"))) if values.get("on") else None
            except ValueError:
                on = None
            if allow is not None and on is None:
                raise InputError("Give the date the client consented, as a date.")
            withdraw = _enum(MessageChannel, values.get("withdraw"))
            done = services.messages.record(
                case_number,
                held.staff_id,
                phone=str(values.get("phone") or "").strip() or None,
                email=str(values.get("email") or "").strip() or None,
                allow=[allow] if allow else [],
                withdraw=[withdraw] if withdraw else [],
                on=on,
            )
            return _sentence("; ".join(done)) + "."

        return on_case(
            request,
            case_number,
            form,
            "messages",
            act,
            "reach",
            lambda said: {"messages": [_sentence(said)]},
        )

    @app.post("/cases/{case_number}/documents", response_class=HTMLResponse)
    def make_document(
        request: Request, case_number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        def act(held: DeskSession) -> str:
            kind = _one(form, "kind")
            notice = _one(form, "notice") if kind == "hearing-request" else None
            if kind not in DOCUMENT_KINDS and not notice:
                raise InputError("Choose which document to make.")
            fmt = _one(form, "format") or "pdf"
            if fmt not in DESK_FORMATS:
                raise InputError("Choose PDF or a web page.")
            today = date.today()  # the notes document: every note of the case so far
            whole = (date(2000, 1, 1), today) if kind == "notes" else None
            services.documents.produce(
                case_number, kind, fmt, held.staff_id, reference=notice, period=whole
            )
            made = services.documents.title(kind)
            return f"The {made[0].lower()}{made[1:]} is made ({fmt.upper()}); open it below."

        return on_case(request, case_number, form, "documents", act)

    @app.post("/cases/{case_number}/client-record")
    def client_record(
        request: Request, case_number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        """The client's own copy of everything held about them, as PDF, to save and hand
        over: a supervisor's (services.clients.own_copy), in the access log."""
        with working_on(request, case_number, form) as held:
            try:
                record, content = services.clients.own_copy(
                    services.clients.client_of(case_number), held.staff_id, "pdf"
                )
            except UserError as exc:
                refused = forms.Refusals(by_field={"documents": [str(exc)]})
                return _case(held, case_number, render, {}, refused, anchor="documents")
            return Response(
                content,
                media_type=services.documents.MEDIA["pdf"],
                headers={
                    "Content-Disposition": (
                        f'attachment; filename="{record.client_number}-own-copy.pdf"'
                    ),
                    "Content-Security-Policy": "default-src 'none'",
                },
            )

    @app.post("/cases/{case_number}/attachments", response_class=HTMLResponse)
    def attach(
        request: Request, case_number: str, upload: Annotated[Upload, Depends(uploaded)]
    ) -> Response:
        def act(held: DeskSession) -> str:
            kind = _enum(AttachmentKind, _one(upload.form, "kind"))
            if kind is None:
                raise InputError("Choose what the file is.")
            if not upload.data:
                raise InputError("Choose the file to attach.")
            done = services.attachments.attach(
                case_number,
                upload.data,
                upload.name,
                kind,
                held.staff_id,
                _one(upload.form, "note") or None,
            )
            unscanned = (
                "" if done.scanned else " It was not scanned for malware: no scanner is configured."
            )
            return f"{done.number} is attached ({label(kind.value)}).{unscanned}"

        return on_case(request, case_number, upload.form, "attachments", act, keep="attachment")

    @app.get("/cases/{case_number}/attachments/{number}")
    def open_attachment(request: Request, case_number: str, number: str) -> Response:
        with acting(request) as held:
            services.workspace.check_works_on(held.member, case_number)
            opened = services.attachments.open_attachment(case_number, number, held.staff_id)
            suffix = opened.media_type.rsplit("/", 1)[-1].removeprefix("x-")
            return Response(
                opened.content,
                media_type=opened.media_type,
                headers={
                    # Saved, not shown in the desk's own page; named by its number.
                    "Content-Disposition": f'attachment; filename="{opened.number}.{suffix}"',
                    "Content-Security-Policy": "default-src 'none'",
                },
            )

    @app.get("/cases/{case_number}/documents/{document_id}")
    def open_document(request: Request, case_number: str, document_id: int) -> Response:
        with acting(request) as held:
            services.workspace.check_works_on(held.member, case_number)
            kept, content = services.documents.opened(case_number, document_id, held.staff_id)
            name = f"{case_number}-{kept.kind}-{kept.id}.{kept.format}"
            return Response(
                content,
                media_type=services.documents.MEDIA[kept.format],
                headers={
                    "Content-Disposition": f'inline; filename="{name}"',
                    # The document's own styles are inline: allowed for it, nothing else.
                    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                },
            )

    @app.post("/cases/{case_number}/reassess", response_class=HTMLResponse)
    def reassess(
        request: Request, case_number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        def act(held: DeskSession) -> str:
            reason = _enum(ReassessmentReason, _one(form, "reason"))
            if reason is None:
                raise InputError("Choose why the case goes back to assessment.")
            result = services.stages.reassess(
                case_number,
                reason,
                held.staff_id,
                note=_one(form, "note") or None,
                wait=True,
                timeout=SUBMIT_SECONDS,
            )
            return _outcome(result, "The case is back at assessment.")

        return on_case(request, case_number, form, "reassess", act)

    @app.post("/cases/{case_number}/approval", response_class=HTMLResponse)
    def approval(
        request: Request, case_number: str, form: Annotated[Posted, Depends(posted)]
    ) -> Response:
        def act(held: DeskSession) -> str:
            approve = _one(form, "decision") == "approve"
            reason = _one(form, "reason") or None
            if not approve and reason is None:
                raise InputError("Say what the case manager should correct.")
            result = services.approvals.decide(
                case_number, held.staff_id, approve, reason, wait=True, timeout=SUBMIT_SECONDS
            )
            done = "Approved." if approve else "Returned to the case manager with your reason."
            return _outcome(result, done)

        return on_case(request, case_number, form, "approval", act, keep="approval")

    # -- the team -------------------------------------------------------------------------

    @app.get("/team", response_class=HTMLResponse)
    def team(request: Request) -> Response:
        with acting(request) as held:
            if held.member.role is not StaffRole.SUPERVISOR:
                return render("refused.html", held, 403, what="The team page is a supervisor's.")
            return render("team.html", held, **_team_context(held))

    @app.post("/team/transfer", response_class=HTMLResponse)
    def transfer(request: Request, form: Annotated[Posted, Depends(posted)]) -> Response:
        with acting(request) as held:
            if held.member.role is not StaffRole.SUPERVISOR:
                return render("refused.html", held, 403, what="Transfers are a supervisor's work.")
            checked(held, form)
            numbers = [n for n in _one(form, "cases").replace(",", " ").split() if n]
            reason = _enum(TransferReason, _one(form, "reason"))
            to_staff = _one(form, "to_staff")
            error = None
            if not numbers:
                error = "Give the case numbers to transfer."
            elif reason is None:
                error = "Choose why the cases move."
            elif not to_staff:
                error = "Choose who takes the cases."
            if error is None:
                try:
                    moved, warning = services.transfers.transfer(
                        numbers,
                        None,
                        to_staff,
                        reason,
                        _one(form, "override") == "yes",
                        held.staff_id,
                    )
                except UserError as exc:
                    error = str(exc)
            if error is not None:
                context = {**_team_context(held), "error": error, "values": forms.flat(form)}
                return render("team.html", held, **context)
            held.said.append(
                f"{len(moved)} case(s) moved to {to_staff}." + (f" {warning}" if warning else "")
            )
            back = _one(form, "back")  # from a case's own page: back to it
            return see_other(back if re.fullmatch(r"/cases/CASE-\d+", back) else "/team")


# -- intake -------------------------------------------------------------------------------


def _intake_context(held: DeskSession, values: dict[str, Any]) -> dict[str, Any]:
    programs = sorted(p.value for p in held.member.programs)
    managers: list[str] = []
    if held.member.role is StaffRole.SUPERVISOR:
        roster = services.staff.roster()
        managers = sorted(
            m.id
            for m in roster.values()
            if m.role is StaffRole.CASE_MANAGER
            and m.active
            and {p.value for p in m.programs} & set(programs)
        )
    items = forms.layout(ClientIn, values)
    return {
        "items": items,
        "values": values,
        "programs": programs,
        "managers": managers,
        "reasons": [(r.value, label(r.value)) for r in NewClientReason],
        "matches": [],
        "error": None,
    }


def _intake_asked(
    held: DeskSession, values: dict[str, Any]
) -> tuple[Program | None, str, ClientIn | str, NewClientReason | None, forms.Refusals]:
    """What the intake page asks for: the program, the case manager, the client (a number to
    link, or the details to register) and why a new one despite matches; and what is wrong."""
    program = _enum(Program, values.get("program"))
    manager = held.staff_id
    if held.member.role is not StaffRole.CASE_MANAGER:
        manager = values.get("case_manager") or ""
    decision = values.get("decision", "")
    problems = forms.Refusals()
    if program is None:
        problems.add("program", "Choose the program.")
    if not manager:
        problems.add("case_manager", "Choose the case manager.")
    if decision.startswith("link:"):
        return program, manager, decision.removeprefix("link:"), None, problems
    client: ClientIn | str = ""
    try:
        client = ClientIn.model_validate(forms.to_data(ClientIn, values))
    except ValidationError as exc:
        for path, said in forms.from_validation(exc).by_field.items():
            problems.by_field.setdefault(path, []).extend(said)
    reason = _enum(NewClientReason, values.get("new_client_reason")) if decision == "new" else None
    return program, manager, client, reason, problems


def _on_intake(context: dict[str, Any], refused: forms.Refusals) -> forms.Refusals:
    """Each refusal beside its field: the client's details, or the program and the case
    manager (the page's own); anything else at the top, none lost."""
    own: dict[str, list[str]] = {
        k: refused.by_field.pop(k) for k in ("program", "case_manager") if k in refused.by_field
    }
    placed = forms.place(context["items"], refused)
    placed.by_field.update(own)
    return placed


def _take_in(
    held: DeskSession,
    values: dict[str, Any],
    context: dict[str, Any],
    render: Render,
    see_other: Callable[[str], Response],
) -> Response:
    from casework.models.clients import LikelyDuplicate

    program, manager, client, reason, problems = _intake_asked(held, values)
    decision = values.get("decision", "")
    if problems:
        return render(
            "intake.html", held, 200, **{**context, "problems": _on_intake(context, problems)}
        )
    assert program is not None
    try:
        result = services.cases.intake(
            client, program, manager, held.staff_id, new_client_reason=reason
        )
    except LikelyDuplicate as exc:
        matches = [(m.client_number, m.match.score) for m in exc.matches]
        why = "Say why this is a different person." if decision == "new" else None
        return render(
            "intake.html", held, 200, **{**context, "matches": matches, "reason_error": why}
        )
    except UserError as exc:
        refused = _on_intake(context, forms.from_refusal(str(exc)))
        return render("intake.html", held, 200, **{**context, "problems": refused})
    if values.get("consent") == "yes":
        try:
            services.referrals.give_consent(result.case_number, "*", date.today(), held.staff_id)
        except UserError as exc:
            held.said.append(f"Consent was not recorded: {exc}")
    moved = services.stages.wait_for_intake(result.case_number, result.flow_run_id, SUBMIT_SECONDS)
    held.said.append(
        f"{result.case_number} is open for {result.client_number or 'the client'}; "
        + (
            "its assessment is next."
            if moved.outcome == "moved"
            else "its run has not yet recorded the intake: the assessment form appears once it has."
        )
    )
    return see_other(f"/cases/{result.case_number}")


# -- the case -----------------------------------------------------------------------------


def _stage_form(
    detail: CaseDetail, values: dict[str, Any], providers: list[tuple[str, str]]
) -> tuple[type[BaseModel] | None, dict[str, Any]]:
    """The form of the case's current stage, and how the page lays it out for this case."""
    stage = Stage(detail.stage)
    held = detail.approval is not None and detail.approval.status == "requested"
    model = (
        form_for(stage, detail.program)
        if detail.status == "open" and not detail.waiting_on and not held
        else None
    )
    if model is None:
        return None, {}
    options: dict[str, Any] = {"rows": {}, "choices": {}, "omit": frozenset()}
    if stage is Stage.PLAN:
        options["omit"] = frozenset({"goals.*.domain"})
        options["rows"]["goals"] = max(3, _rows_posted(values, "goals"))
    elif stage is Stage.REFERRAL:
        options["rows"]["referrals"] = max(2, _rows_posted(values, "referrals"))
        options["choices"]["referrals.*.provider"] = providers
    elif stage is Stage.MONITORING:
        goals = detail.plan.goals if detail.plan else []
        options["rows"]["goal_updates"] = len(goals)
        for i, goal in enumerate(goals):
            options["choices"][f"goal_updates.{i}.objective"] = [
                (goal.objective, label(goal.objective))
            ]
            values.setdefault(f"goal_updates.{i}.status", goal.status)
    return model, options


def _rows_posted(values: dict[str, Any], path: str) -> int:
    indices = {
        k.split(".")[1] for k in values if k.startswith(f"{path}.") and k.split(".")[1].isdigit()
    }
    return max((int(i) + 1 for i in indices), default=0)


def _providers(program: str) -> list[tuple[str, str]]:
    """The directory's active providers that take the program's referrals, by the service
    they offer, then organization: "Housing search: Hope Housing Partners (Housing search)"."""
    from casework.models.providers import Search

    found = services.providers.provider_list(Search())
    offered = [
        (
            p.key,
            f"{label(p.category) if p.category else 'Any service'}: {p.organization}, "
            f"{p.service_name}",
        )
        for p in found
        if not p.programs or program in p.programs
    ]
    return sorted(offered, key=lambda option: option[1])


def _case(
    held: DeskSession,
    case_number: str,
    render: Render,
    values: dict[str, Any],
    refused: forms.Refusals,
    anchor: str | None = None,
) -> Response:
    try:
        if not access.sees_identity(held.member):
            summary, history = services.workspace.coded_case(held.member, case_number)
            return render("case_coded.html", held, case=summary, history=history)
        detail = services.workspace.open_case(held.member, case_number)
    except UserError:
        return render("no_case.html", held, 404, case_number=case_number)
    form_values = dict(values.get("form", {}))
    back = detail.approval if detail.approval and detail.approval.status == "returned" else None
    if back is not None and not form_values:  # returned: what was given, to correct
        form_values = forms.to_values(back.form)
        given = detail.narratives.get(f"e{detail.episode}:{back.stage_key}")
        form_values.setdefault("narrative", given or "")
    providers = _providers(detail.program.value)  # the referral form's, and consent's
    model, options = _stage_form(detail, form_values, providers)
    items = forms.layout(model, form_values, **options) if model else []
    if model is not None:
        forms.add_written(items, model, form_values)
    on_form = anchor == "stage-form"
    placed = forms.place(items, refused) if on_form else forms.Refusals()
    documents = services.documents.listing(case_number)
    # Listed with the case, whose read is in the access log already; each opening is too.
    attached = services.attachments.listing(case_number, held.staff_id, log=False)
    intake_model, asked = _intake_form(detail.program)
    intake = forms.layout(intake_model, dict(values.get("intake", {}))) if asked else []
    members = _member_forms(detail, dict(values.get("member", {})))
    if anchor == "household":
        refused = forms.place([i for found in members.values() for i in found], refused)
    if anchor == "intake-details":
        forms.place(intake, refused)
    return render(
        "case.html",
        held,
        case=detail,
        intake_items=intake,
        intake_refused=refused.general if anchor == "intake-details" else [],
        member_forms=members,
        member_answers=services.cases.members_answers(case_number) if members else {},
        member_refused=refused.general if anchor == "household" else [],
        member_open=dict(values.get("member", {})).get("client") if anchor == "household" else None,
        form_title=label(detail.stage) if model else None,
        items=items,
        refused=placed,
        other={} if on_form else refused.by_field,
        note=values.get("note", {}),
        documents=documents,
        document_kinds=DOCUMENT_KINDS,
        attachments=attached,
        attachment_kinds=[(k.value, label(k.value)) for k in AttachmentKind],
        attachment_types=ACCEPTED,
        attachment_kept=values.get("attachment", {}),
        consent_scopes=[(k.value, label(k.value)) for k in ConsentScope],
        consent_kinds=[(k.value, label(k.value)) for k in ConsentKind],
        signing=_signing(anchor, values),
        signing_kept=values.get("signing", {}),
        providers=providers,
        contact_types=[(t.value, label(t.value)) for t in STAFF_CONTACT_TYPES],
        appointment=values.get("appointment", {}),
        messaging=services.messages.messaging(case_number, held.staff_id),
        reach=values.get("reach", {}),
        zone=get_settings().zone,
        appointment_kinds=[(k.value, label(k.value)) for k in AppointmentKind],
        time_zone=get_settings().timezone,
        reassess_reasons=[(r.value, label(r.value)) for r in ReassessmentReason],
        reassessable=detail.stage in ("plan", "referral", "monitoring") and detail.status == "open",
        transfer_to=_transfer_to(held, detail),
        transfer_reasons=[(r.value, label(r.value)) for r in TransferReason],
        objectives=Objective,
        anchor=anchor,
        narrative_text=form_values.get("narrative", ""),
        decides=_decides(held, detail),
        approval_given=_given(detail.approval, detail.program) if detail.approval else [],
        approval_kept=values.get("approval", {}),
    )


def _given(held: ApprovalOut, program: Program) -> list[tuple[str, str]]:
    """A form held for approval as it was given, for reading: each answer by its question
    (the program's own by their labels), codes by their labels (who gave it is said
    beside it)."""
    from casework.models.programs import programs

    asked = getattr(programs()[program], held.stage, None)
    own = {f"questions.{q.id}": q.label for q in asked} if isinstance(asked, list) else {}
    return [
        (own.get(path) or _question(path), _shown(value))
        for path, value in forms.to_values(held.form).items()
        if path != "submitted_by"
    ]


def _question(path: str) -> str:
    """A path of a form's answer in words: `goals.0.target_date` is "Goal 1: target date"."""
    parts = path.split(".")
    rows = [
        f"{forms.words_of(name)} {int(index) + 1}"
        for name, index in zip(parts, parts[1:], strict=False)
        if index.isdigit()
    ]
    leaf = field_title(parts[-1])
    return ": ".join([*rows, leaf if not rows else leaf.lower()])


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(label(v) for v in value) or "-"
    return {"yes": "Yes", "no": "No"}.get(value, label(value))


def _signing(anchor: str | None, values: dict[str, Any]) -> str | None:
    """The consent whose signing was refused (its part of the page opened again)."""
    if anchor != "referrals" or "signing" not in values:
        return None
    return str(values["signing"].get("consent") or "") or None


def _decides(held: DeskSession, detail: CaseDetail) -> bool:
    """Whether the viewer is offered the decision on the form the case waits with: a
    supervisor of its program who did not give it (the service refuses anyone else)."""
    waiting = detail.approval
    return (
        waiting is not None
        and waiting.status == "requested"
        and held.member.role is StaffRole.SUPERVISOR
        and detail.program in held.member.programs
        and held.staff_id != waiting.submitted_by
    )


def _intake_form(program: Program) -> tuple[type[BaseModel], bool]:
    """The program's intake-details form, and whether it asks anything."""
    from casework.models.intake_fields import form_of

    model, fields = form_of(program)
    return model, bool(fields)


def member_prefix(client_number: str) -> str:
    """The path a member's answers are posted under: each member's form on the page apart."""
    return f"member.{client_number.strip().lower()}."


def _member_forms(detail: CaseDetail, kept: dict[str, Any]) -> dict[str, list[Input | Group]]:
    """For an open case of a HUD-funded program, a form of HMIS's start questions for each
    current member of its household but its client, by client number; a refused one's with
    what was typed."""
    model, fields = member_form_of(detail.program)
    if not fields or detail.status != "open":
        return {}
    head = detail.client.client_number
    return {
        m.client_number: forms.layout(
            model,
            kept if kept.get("client") == m.client_number else {},
            prefix=member_prefix(m.client_number),
        )
        for m in detail.household
        if m.left_on is None and m.client_number != head
    }


def _transfer_to(held: DeskSession, detail: CaseDetail) -> list[str]:
    """For a supervisor, the case managers an open case of theirs may move to."""
    if held.member.role is not StaffRole.SUPERVISOR or detail.status != "open":
        return []
    program = detail.program
    return sorted(
        m.id
        for m in services.staff.roster().values()
        if m.role is StaffRole.CASE_MANAGER
        and m.active
        and program in m.programs
        and m.id != detail.case_manager
    )


def _submit(
    held: DeskSession,
    case_number: str,
    values: dict[str, Any],
    render: Render,
    see_other: Callable[[str], Response],
) -> Response:
    """Hand the stage form to the case's run, as the CLI does, and wait for its verdict; a
    refusal comes back in place, sentence by sentence, with what was typed kept."""
    stage = _enum(Stage, values.get("stage"))
    model = services.stages.stage_form_type(case_number, stage) if stage else None
    if stage is None or model is None:
        return see_other(f"/cases/{case_number}")
    data = {**forms.to_data(model, values), "submitted_by": held.staff_id}
    narrative = str(values.get("narrative") or "").strip() or None
    kept = {"form": values}
    try:
        form = model.model_validate(data)
    except ValidationError as exc:
        return _case(
            held, case_number, render, kept, forms.from_validation(exc), anchor="stage-form"
        )
    try:
        written = services.stages.written_with(form, forms.written_given(model, values))
    except WrittenRefused as exc:
        refused = forms.from_refusal("; ".join(exc.problems))
        return _case(held, case_number, render, kept, refused, anchor="stage-form")
    try:
        result = services.stages.submit(
            case_number,
            stage,
            form,
            narrative=narrative,
            written=written,
            actor=held.staff_id,
            wait=True,
            timeout=SUBMIT_SECONDS,
        )
    except UserError as exc:
        return _case(
            held,
            case_number,
            render,
            kept,
            forms.from_refusal(str(exc)),
            anchor="stage-form",
        )
    if result.outcome == "rejected":
        refused = forms.from_refusal(result.error or "refused")
        return _case(held, case_number, render, kept, refused, anchor="stage-form")
    held.said.append(_outcome(result, f"The {label(stage.value).lower()} is recorded."))
    return see_other(f"/cases/{case_number}")


OPTION_FIELDS = {"--at": "at", "--kind": "kind", "--with": "with_whom", "--place": "place"}


def _sentence(text: str) -> str:
    """A refusal or a report said on a page: without the CLI option it names first
    (`--email: …`), begun with a capital."""
    head, sep, rest = text.partition(": ")
    said = rest if sep and head.startswith("--") else text
    return said[:1].upper() + said[1:]


def _option_refusal(text: str) -> dict[str, list[str]]:
    """A booking's refusal (its CLI option named) beside the desk's field, in a sentence."""
    head, sep, rest = text.partition(": ")
    field = OPTION_FIELDS.get(head) if sep else None
    said = rest if field else text
    return {field or "appointments": [said[:1].upper() + said[1:]]}


def _outcome(result: Any, done: str) -> str:
    if result.outcome == "awaiting_approval":
        stage = label(result.stage).lower()
        return f"The {stage} form is given; it waits for a supervisor's approval."
    if result.outcome == "moved":
        where = "closed" if result.stage == "closed" else f"at {label(result.stage).lower()}"
        return f"{done} The case is now {where}."
    if result.outcome in ("pending", "submitted"):
        return (
            "Handed over; not yet confirmed: the case's run has not recorded it yet. "
            "Look again in a minute."
        )
    return f"{done} {plain(result.error or '')}".strip()


# -- the team -------------------------------------------------------------------------------


def _team_context(held: DeskSession) -> dict[str, Any]:
    members = services.workspace.team(held.member)
    return {
        "members": members,
        "managers": sorted({m.staff_id for m in members}),
        "reasons": [(r.value, label(r.value)) for r in TransferReason],
        "values": {},
        "error": None,
    }
