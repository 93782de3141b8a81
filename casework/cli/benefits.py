"""Benefits continuity: benefits, notices of adverse action and their hearings, waivers,
and the post-closure follow-up checks."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from casework.cli.options import (
    JSON,
    YES_NO,
    CliError,
    Count,
    Day,
    choice_of,
    command,
    emit,
    one_of,
    signed_in,
    warn,
)
from casework.models.codes import (
    BenefitKind,
    HearingDecision,
    NeedsDomain,
    NoticeAction,
    NoticeReason,
    WaiverRequirement,
)

commands = click.Group()


@command(commands, "benefit", "record or renew a benefit's recertification date")
@click.argument("case_number")
@click.option("--kind", required=True, type=choice_of(BenefitKind))
@click.option("--recertify-by", type=Day(), metavar="DATE")
@click.option("--ended", is_flag=True, help="the client no longer receives it")
def benefit(case_number: str, kind: str, recertify_by: date | None, ended: bool) -> int:
    from casework import services

    one_of(("--recertify-by", recertify_by), ("--ended", ended))
    held = BenefitKind(kind)
    if ended:
        services.benefits.end_benefit(case_number, held, signed_in())
        print(f"{case_number.upper()}: {held.value} ended; no longer watched")
    else:
        assert recertify_by is not None
        services.benefits.record_benefit(case_number, held, recertify_by, signed_in())
        print(f"{case_number.upper()}: {held.value} to recertify by {recertify_by}")
    return 0


@command(
    commands,
    "notice",
    "record a notice that a benefit will be reduced, discontinued or denied",
)
@click.argument("case_number")
@click.option("--benefit", required=True, type=choice_of(BenefitKind))
@click.option("--action", required=True, type=choice_of(NoticeAction))
@click.option("--notice-date", required=True, type=Day(), metavar="DATE")
@click.option("--effective", required=True, type=Day(), metavar="DATE", help="its effective date")
@click.option("--reason", type=choice_of(NoticeReason))
@JSON
def notice(
    case_number: str,
    benefit: str,
    action: str,
    notice_date: date,
    effective: date,
    reason: str | None,
    as_json: bool,
) -> int:
    from casework import services

    result = services.benefits.record_notice(
        case_number,
        BenefitKind(benefit),
        NoticeAction(action),
        NoticeReason(reason) if reason else None,
        notice_date,
        effective,
        signed_in(),
    )
    emit(result.notice.model_dump(mode="json"), as_json, lambda: notice_recorded(result))
    warn(result.warning)
    return 0


def notice_recorded(result: Any) -> str:
    n = result.notice
    aid = (
        f"a hearing requested by {n.aid_deadline} keeps aid unchanged until the decision"
        if n.aid_deadline
        else "aid does not continue pending a hearing"
    )
    swept = "" if result.warning else "; its case manager is told now"
    return (
        f"{result.case_number}: notice {n.number} recorded ({n.benefit} {n.action}, effective "
        f"{n.effective_on}): {aid}; last day to request a hearing {n.hearing_deadline}{swept}"
    )


@command(
    commands,
    "hearing",
    "record a fair hearing request on a notice, the client's decision not to appeal, or "
    "the outcome",
)
@click.argument("case_number")
@click.option("--notice", required=True, type=Count(1, 9999), metavar="N")
@click.option("--requested-on", type=Day(), metavar="DATE")
@click.option(
    "--declined-on",
    type=Day(),
    metavar="DATE",
    help="the client decided not to appeal (or withdrew their hearing request)",
)
@click.option("--decision", type=choice_of(HearingDecision))
@click.option("--on", "decided_on", type=Day(), metavar="DATE", help="the decision's date")
@click.option(
    "--aid-continuing",
    type=YES_NO,
    help="with --requested-on (default: yes if requested by the aid-continuing deadline)",
)
@JSON
def hearing(
    case_number: str,
    notice: int,
    requested_on: date | None,
    declined_on: date | None,
    decision: str | None,
    decided_on: date | None,
    aid_continuing: str | None,
    as_json: bool,
) -> int:
    from casework import services

    one_of(
        ("--requested-on", requested_on), ("--declined-on", declined_on), ("--decision", decision)
    )
    if aid_continuing and requested_on is None:
        raise CliError("--aid-continuing: goes with --requested-on")
    if (decided_on is None) != (decision is None):
        raise CliError("--on: give the decision's date with --decision, and only with it")
    result = services.benefits.record_hearing(
        case_number,
        notice,
        signed_in(),
        requested_on=requested_on,
        aid_continuing=None if aid_continuing is None else aid_continuing == "yes",
        declined_on=declined_on,
        decision=HearingDecision(decision) if decision else None,
        decided_on=decided_on,
    )
    emit(result.notice.model_dump(mode="json"), as_json, lambda: hearing_recorded(result))
    warn(result.warning)
    return 0


def hearing_recorded(result: Any) -> str:
    n = result.notice
    line = f"{result.case_number}: notice {n.number} ({n.benefit} {n.action}): {n.state}"
    if n.decision in {HearingDecision.REVERSED.value, HearingDecision.WITHDRAWN.value}:
        line += (
            f"; {n.benefit} is active again"
            if result.benefit_active
            else f"; record the {n.benefit} benefit with `casework benefit {result.case_number} "
            f"--kind {n.benefit} --recertify-by DATE`"
        )
    if n.decision == HearingDecision.UPHELD.value:
        line += (
            f"; the plan must now cover {NeedsDomain.INCOME_BENEFITS.value}: monitoring may "
            "not continue or close until it does"
        )
    return line


@command(commands, "waiver", "grant or extend a program waiver")
@click.argument("case_number")
@click.option("--requirement", required=True, type=choice_of(WaiverRequirement))
@click.option("--expires", "expires_on", required=True, type=Day(), metavar="DATE")
def waiver(case_number: str, requirement: str, expires_on: date) -> int:
    from casework import services

    waived = WaiverRequirement(requirement)
    services.benefits.record_waiver(case_number, waived, expires_on, signed_in())
    print(f"{case_number.upper()}: {waived.value} waiver until {expires_on}")
    return 0


@command(commands, "follow-up", "record a post-closure check (day 30 or 90)")
@click.argument("case_number")
@click.option("--day", required=True, type=Count(1, 3650))
@click.option("--unreachable", is_flag=True, help="the client was not reached")
@click.option("--housing-kept", type=YES_NO)
@click.option("--benefits-continuing", type=YES_NO)
def follow_up(
    case_number: str,
    day: int,
    unreachable: bool,
    housing_kept: str | None,
    benefits_continuing: str | None,
) -> int:
    from casework import services

    if unreachable == bool(housing_kept or benefits_continuing):
        raise CliError("--housing-kept/--benefits-continuing: give both, or --unreachable instead")
    if not unreachable and not (housing_kept and benefits_continuing):
        raise CliError("--housing-kept/--benefits-continuing: give both (yes or no)")
    outcome = services.benefits.record_follow_up(
        case_number,
        day,
        reached=not unreachable,
        housing_kept=None if unreachable else housing_kept == "yes",
        benefits_continuing=None if unreachable else benefits_continuing == "yes",
        actor=signed_in(),
    )
    proposal = "" if outcome == "stable" else "; reopening proposed (see casework escalations)"
    print(f"{case_number.upper()}: day-{day} check {outcome}{proposal}")
    return 0
