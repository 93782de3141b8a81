"""Referrals and consents: consent to share given or withdrawn, a partner's answer recorded
by hand, and the partners asked now for their answers."""

from __future__ import annotations

from datetime import date

import click

from casework.cli.options import (
    Day,
    back_later,
    choice_of,
    command,
    free_text,
    signed_in,
)
from casework.models.codes import ReferralStatus

commands = click.Group()


@command(commands, "consent", "record (or withdraw) consent to share with a provider")
@click.argument("case_number")
@click.option("--provider", required=True, help="provider id, or * for any")
@click.option("--given-on", type=Day(), metavar="DATE", help="default: today")
@click.option("--withdraw", is_flag=True)
def consent(case_number: str, provider: str, given_on: date | None, withdraw: bool) -> int:
    from casework import services
    from casework.core.errors import Deferred

    actor = signed_in()
    if withdraw:
        later = ""
        try:
            cancelled = services.referrals.withdraw_consent(case_number, provider, actor)
        except Deferred as deferred:
            cancelled, later = deferred.done, f"; {deferred.case_number} {back_later()}"
        print(
            f"{case_number.upper()}: consent for {provider} withdrawn"
            f"{'; cancelled ' + ', '.join(cancelled) if cancelled else ''}{later}"
        )
        return 0
    day = given_on or date.today()
    services.referrals.give_consent(case_number, provider, day, actor)
    print(f"{case_number.upper()}: consent to share with {provider} from {day}")
    return 0


@command(commands, "referral", "record a partner's answer by hand")
@click.argument("reference")
@click.option("--status", required=True, type=choice_of(ReferralStatus))
@click.option("--reason", help="the partner's reason, if any (store only)")
def referral(reference: str, status: str, reason: str | None) -> int:
    from casework import services

    why = free_text(reason, "--reason") if reason else None
    case_number, moved = services.referrals.record_referral_status(
        reference, ReferralStatus(status), why, signed_in()
    )
    follow: dict[bool | None, str] = {True: f"; {case_number} moves on", False: ""}
    follow[None] = f"; {case_number} {back_later()}"
    print(f"{reference.upper()}: {status} recorded{follow[moved]}")
    return 0


@command(
    commands,
    "sync-referrals",
    "ask the partner agencies now for their answers to open referrals (the "
    "referral-status-sync deployment does it every 10 minutes)",
)
def sync_referrals() -> int:
    from casework.core import prefect_api
    from casework.flows.referral_sync import referral_status_sync

    prefect_api.check_ready(prefect_api.REFERRAL_SYNC_DEPLOYMENT)
    done = referral_status_sync()
    print(
        f"{done['providers']} partner(s) asked: {done['changes']} answer(s) changed, "
        f"{done['resumed']} case(s) moved on"
    )
    return 0
