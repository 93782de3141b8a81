"""Records that end when the law says: what retention would mask (a preview that writes
nothing), a batch's approval or refusal, legal holds, a client's erasure on request, and
the masking log applied again after a restore. Numbers, rules and codes only."""

from __future__ import annotations

from datetime import datetime

import click

from casework.cli.options import CLIENT_NUMBER, JSON, AsOf, choice_of, command, emit, signed_in
from casework.models.codes import ErasureReason, HoldReason, RetentionRefusal

commands = click.Group()


@command(commands, "retention", "what retention would mask by a date: a preview, writes nothing")
@click.option("--as-of", type=AsOf(), help="date or ISO time (default: now, UTC)")
@JSON
def retention(as_of: datetime | None, as_json: bool) -> int:
    from casework import services

    found = services.record_retention.preview(as_of, signed_in())
    emit(
        [
            {
                "scope": d.scope.value,
                "client": d.client_number,
                "case": d.case_number,
                "rule": d.rule,
                "due_since": d.since.isoformat(),
            }
            for d in found
        ],
        as_json,
        lambda: (
            (
                "\n".join(
                    f"{d.client_number}  {d.case_number or '(identity)':12}  {d.scope.value:8}  "
                    f"{d.rule}  due since {d.since}"
                    for d in found
                )
                or "nothing is due"
            )
            + (
                f"\n{len(found)} item(s): the weekly records-retention run batches them for a "
                "supervisor's or an admin's approval; nothing is masked before it"
                if found
                else ""
            )
        ),
    )
    return 0


@command(commands, "retention-batch", "one retention batch: what it masks, and where it is")
@click.argument("number", metavar="RET-…")
@JSON
def retention_batch(number: str, as_json: bool) -> int:
    from casework import services

    batch = services.record_retention.show(number, signed_in())
    emit(
        {
            "batch": batch.number,
            "kind": batch.kind,
            "status": batch.status,
            "as_of": batch.as_of,
            "requested_by": batch.requested_by,
            "decided_by": batch.decided_by,
            "items": [
                {"scope": s, "client": cl, "case": ca or None, "rule": r}
                for s, cl, ca, r in batch.items
            ],
        },
        as_json,
        lambda: "\n".join(
            [
                f"{batch.number} ({batch.kind}, as of {batch.as_of:%Y-%m-%d}): {batch.status}"
                + (f" by {batch.decided_by}" if batch.decided_by else ""),
                *(f"  {cl}  {ca or '(identity)':12}  {s:8}  {r}" for s, cl, ca, r in batch.items),
            ]
        ),
    )
    return 0


@command(commands, "approve-retention", "approve a retention batch (supervisors, admins)")
@click.argument("number", metavar="RET-…")
def approve_retention(number: str) -> int:
    from casework import services

    woken = services.record_retention.decide(number, True, signed_in())
    print(
        f"{number.upper()} approved: "
        + ("its run masks it now" if woken else "its run masks it when it next runs")
    )
    return 0


@command(commands, "refuse-retention", "refuse a retention batch: nothing of it is masked")
@click.argument("number", metavar="RET-…")
@click.option("--reason", required=True, type=choice_of(RetentionRefusal))
def refuse_retention(number: str, reason: str) -> int:
    from casework import services

    services.record_retention.decide(number, False, signed_in(), RetentionRefusal(reason).value)
    print(f"{number.upper()} refused ({reason}): nothing of it is masked")
    return 0


@command(commands, "hold", "a legal hold on a client or a case: retention masks nothing of it")
@click.argument("target", metavar="CLIENT-…|CASE-…")
@click.option("--reason", required=True, type=choice_of(HoldReason))
def hold(target: str, reason: str) -> int:
    from casework import services

    number = services.record_retention.hold(target, HoldReason(reason), signed_in())
    print(f"{number}: {target.upper()} is held ({reason}); retention and erasure stop for it")
    return 0


@command(commands, "lift-hold", "lift a legal hold")
@click.argument("number", metavar="HOLD-…")
def lift_hold(number: str) -> int:
    from casework import services

    services.record_retention.lift(number, signed_in())
    print(f"{number.upper()} lifted")
    return 0


@command(commands, "holds", "the legal holds that stand")
@JSON
def holds(as_json: bool) -> int:
    from casework import services

    found = services.record_retention.holds(signed_in())
    emit(
        [
            {"hold": n, "client": cl, "case": ca or None, "reason": r, "by": b, "at": at}
            for n, cl, ca, r, b, at in found
        ],
        as_json,
        lambda: (
            "\n".join(
                f"{n}  {cl}  {ca or '(every case)':12}  {r}  placed by {b} on {at:%Y-%m-%d}"
                for n, cl, ca, r, b, at in found
            )
            or "no legal hold stands"
        ),
    )
    return 0


@command(commands, "erase", "mask a client's identity and records now, once approved")
@click.argument("client", type=CLIENT_NUMBER, metavar="CLIENT-…")
@click.option("--reason", required=True, type=choice_of(ErasureReason))
def erase(client: str, reason: str) -> int:
    from casework import services

    number, _ = services.record_retention.erase(client, ErasureReason(reason), signed_in())
    print(
        f"{number}: {client.upper()}'s identity and records wait for another supervisor's or an "
        f"admin's approval (`casework approve-retention {number}`)"
    )
    return 0


@command(commands, "reapply-masking", "mask again what the masking log says (after a restore)")
def reapply_masking() -> int:
    from casework import services

    records, identities = services.record_retention.reapply()
    print(f"masked again: {records} case(s)' records, {identities} client(s)' identities")
    return 0
