"""Referrals and consents: consent to share given or withdrawn, a partner's answer recorded
by hand, and the partners asked now for their answers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from casework.cli.options import (
    CliError,
    Day,
    back_later,
    choice_of,
    command,
    free_text,
    signed_in,
)
from casework.models.codes import ConsentKind, ConsentScope, ReferralStatus

commands = click.Group()


@command(commands, "consent", "record (sign, or withdraw) a client's consent to share")
@click.argument("case_number")
@click.option("--provider", help="provider id, or * for any")
@click.option("--given-on", type=Day(), metavar="DATE", help="default: today")
@click.option("--kind", type=choice_of(ConsentKind), default=ConsentKind.CONSENT_TO_SHARE.value)
@click.option("--scope", type=choice_of(ConsentScope), default=ConsentScope.REFERRAL_DETAILS.value)
@click.option("--expires", type=Day(), metavar="DATE", help="its last day (default: none)")
@click.option(
    "--signed-scan",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="the form the client signed on paper, scanned (kept as an attachment)",
)
@click.option("--sign", "to_sign", metavar="CON-…", help="a consent already recorded: its scan")
@click.option("--withdraw", is_flag=True)
def consent(
    case_number: str,
    provider: str | None,
    given_on: date | None,
    kind: str,
    scope: str,
    expires: date | None,
    signed_scan: Path | None,
    to_sign: str | None,
    withdraw: bool,
) -> int:
    from casework import services
    from casework.core.errors import Deferred

    actor = signed_in()
    number = case_number.upper()
    if to_sign is not None:
        if signed_scan is None:
            raise CliError("--sign: give the signed form with --signed-scan FILE")
        kept = services.referrals.attach_signed_scan(
            number, to_sign, _scan(signed_scan), signed_scan.name, actor
        )
        print(f"{number}: {to_sign.upper()} signed ({kept}, the scan)")
        return 0
    if provider is None:
        raise CliError("--provider: name the provider (or * for any)")
    if withdraw:
        later = ""
        try:
            cancelled = services.referrals.withdraw_consent(number, provider, actor)
        except Deferred as deferred:
            cancelled, later = deferred.done, f"; {deferred.case_number} {back_later()}"
        print(
            f"{number}: consent for {provider} withdrawn"
            f"{'; cancelled ' + ', '.join(cancelled) if cancelled else ''}{later}"
        )
        return 0
    day = given_on or date.today()
    scan = _scan(signed_scan) if signed_scan is not None else None
    recorded = services.referrals.give_consent(
        number,
        provider,
        day,
        actor,
        kind=ConsentKind(kind),
        scope=ConsentScope(scope),
        expires_on=expires,
    )
    until = f" until {expires}" if expires else ""
    print(f"{number}: {recorded}, consent to share with {provider} from {day}{until}")
    if scan is not None and signed_scan is not None:
        kept = services.referrals.attach_signed_scan(
            number, recorded, scan, signed_scan.name, actor
        )
        print(f"{number}: {recorded} signed ({kept}, the scan)")
    return 0


def _scan(path: Path) -> bytes:
    from casework.core.settings import get_settings

    try:
        with path.open("rb") as handle:
            return handle.read(get_settings().attachment_max_bytes + 1)
    except OSError as exc:
        raise CliError(f"--signed-scan: cannot read {path}: {exc.strerror}") from None


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
