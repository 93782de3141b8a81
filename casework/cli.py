"""The `casework` command line: operators and case managers run the caseload from here.
Bad input exits non-zero with one line naming what is wrong, and changes nothing."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from casework import casework_version
from casework.core.errors import UserError
from casework.core.settings import LOGIN_PATTERN, STAFF_ID_PATTERN, WORK_POOL_PATTERN
from models.codes import (
    BenefitKind,
    CaseStatus,
    ContactType,
    HearingDecision,
    NeedsDomain,
    NewClientReason,
    NoticeAction,
    NoticeReason,
    Program,
    ReassessmentReason,
    RecipientRole,
    ReferralStatus,
    ServiceCategory,
    StaffRole,
    Stage,
    TransferReason,
    WaiverRequirement,
    Watch,
)

if TYPE_CHECKING:
    from models.schemas import ProviderOut

EXIT_ERROR = 1
EXIT_UNCONFIRMED = 3  # a form was handed over and whether it was taken is not known yet
DOCUMENT_KINDS = ("plan", "referral", "notes", "closure", "hearing-request")
HEARING_REQUEST = "hearing-request"


def back_later() -> str:
    from casework.core.prefect_api import who_finishes

    return (
        "moves on once the Prefect server is back (the server is not answering; "
        f"{who_finishes('settle')})"
    )


FORM_STAGES = [s.value for s in Stage if s is not Stage.INTAKE]


class CliError(UserError):
    pass


class Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error; `--help` shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        help="data directory (default: CASEWORK_DATA_DIR, else ./.casework if there, "
        "else your user data directory)",
    )
    parser = Parser(prog="casework", description=__doc__)
    parser.add_argument("--version", action="version", version=f"casework {casework_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up", parents=[common], help="start the local stack and serve every deployment"
    )
    up.add_argument("--port", type=port_arg, default=4200)
    up.add_argument(
        "--demo", type=count_arg(0, 500), default=0, metavar="N", help="also create N demo cases"
    )
    up.add_argument(
        "--verbose",
        action="store_true",
        help="the worker's and the flow runs' output to the terminal, not to runner.log",
    )
    up.add_argument(
        "--prefect-database-url",
        type=prefect_database_arg,
        metavar="URL",
        help="run the local Prefect server on this PostgreSQL database, not on SQLite "
        "(default: CASEWORK_PREFECT_DATABASE_URL)",
    )
    worker = sub.add_parser(
        "worker",
        parents=[common],
        help="run flow runs from a work pool (every machine but the one running `up`)",
    )
    worker.add_argument(
        "--pool", type=pool_arg, help="work pool to poll (default: CASEWORK_WORK_POOL, casework)"
    )
    worker.add_argument(
        "--limit",
        type=count_arg(1, 200),
        help="flow runs at once (default: CASEWORK_RUNNER_LIMIT, 10)",
    )

    intake = sub.add_parser(
        "intake",
        parents=[common],
        help="open a case: for a new client (checked for duplicates first) or an existing one",
    )
    intake.add_argument("--program", required=True, choices=[p.value for p in Program])
    who = intake.add_mutually_exclusive_group(required=True)
    who.add_argument("--file", help="a new client's JSON (- for stdin)")
    who.add_argument("--client", type=client_number_arg, help="an existing client: CLIENT-…")
    intake.add_argument(
        "--new-client",
        choices=[r.value for r in NewClientReason],
        metavar="REASON",
        help="register a new client although likely matches were found, and why (audited): "
        + ", ".join(r.value for r in NewClientReason),
    )
    intake.add_argument("--case-manager", help="staff id (default: you)")
    intake.add_argument("--json", action="store_true")

    submit = sub.add_parser(
        "submit", parents=[common], help="submit a stage form to a waiting case"
    )
    submit.add_argument("case_number")
    submit.add_argument("stage", choices=FORM_STAGES)
    submit.add_argument("--file", required=True, help="form JSON (- for stdin)")
    submit.add_argument("--narrative-file", help="narrative text kept in the store only")
    submit.add_argument("--wait", action="store_true", help="return once the case has moved on")
    submit.add_argument("--timeout", type=seconds_arg, default=120.0)
    submit.add_argument("--json", action="store_true")

    show = sub.add_parser("show", parents=[common], help="print one case")
    show.add_argument("case_number")
    show.add_argument("--json", action="store_true")

    listing = sub.add_parser("cases", parents=[common], help="list the caseload")
    listing.add_argument("--stage", choices=[s.value for s in Stage])
    listing.add_argument("--program", choices=[p.value for p in Program])
    listing.add_argument("--status", choices=[s.value for s in CaseStatus])
    listing.add_argument("--json", action="store_true")

    form = sub.add_parser(
        "form", parents=[common], help="print a stage form's schema or an example"
    )
    form.add_argument("stage", choices=FORM_STAGES)
    form.add_argument("--example", action="store_true")

    note = sub.add_parser(
        "note", parents=[common], help="record a contact or note (no flow resume)"
    )
    note.add_argument("case_number")
    note.add_argument("--text", required=True)
    note.add_argument(
        "--type", default=ContactType.NOTE.value, choices=[c.value for c in ContactType]
    )
    note.add_argument(
        "--crisis", action="store_true", help="the client is in crisis: escalate at once"
    )

    reopen = sub.add_parser(
        "reopen", parents=[common], help="reopen a closed case as a new episode"
    )
    reopen.add_argument("case_number")
    reopen.add_argument("--reason", required=True)

    reassess = sub.add_parser(
        "reassess",
        parents=[common],
        help="send a case at plan, referral or monitoring back to assessment",
    )
    reassess.add_argument("case_number")
    reassess.add_argument("--reason", required=True, choices=[r.value for r in ReassessmentReason])
    reassess.add_argument("--note", help="free text for the case record (store only)")
    reassess.add_argument("--wait", action="store_true")

    sweep = sub.add_parser(
        "sweep", parents=[common], help="run the sweeps now (as of a date, for time travel)"
    )
    sweep.add_argument("--as-of", type=as_of_arg, help="date or ISO time (default: now, UTC)")
    sweep.add_argument(
        "--watch",
        action="append",
        choices=[w.value for w in Watch],
        help="which sweep (repeatable; default: all)",
    )
    sweep.add_argument(
        "--case",
        dest="case_number",
        help="sweep one case: for stalls (as a crisis does) and with the benefits watch "
        "(as a notice does); --watch picks one",
    )
    sweep.add_argument(
        "--on-pool",
        action="store_true",
        help="run each sweep as a deployment run on the work pool and wait for it "
        "(default: here, in this process)",
    )
    sweep.add_argument("--json", action="store_true")

    esc = sub.add_parser("escalations", parents=[common], help="list escalations and warnings")
    esc.add_argument("--open", action="store_true", help="unresolved only")
    esc.add_argument("--case", help="one case only")
    esc.add_argument("--json", action="store_true")

    benefit = sub.add_parser(
        "benefit", parents=[common], help="record or renew a benefit's recertification date"
    )
    benefit.add_argument("case_number")
    benefit.add_argument("--kind", required=True, choices=[k.value for k in BenefitKind])
    when = benefit.add_mutually_exclusive_group(required=True)
    when.add_argument("--recertify-by", type=date_arg, metavar="DATE")
    when.add_argument("--ended", action="store_true", help="the client no longer receives it")

    notice = sub.add_parser(
        "notice",
        parents=[common],
        help="record a notice that a benefit will be reduced, discontinued or denied",
    )
    notice.add_argument("case_number")
    notice.add_argument("--benefit", required=True, choices=[k.value for k in BenefitKind])
    notice.add_argument("--action", required=True, choices=[a.value for a in NoticeAction])
    notice.add_argument("--notice-date", required=True, type=date_arg, metavar="DATE")
    notice.add_argument(
        "--effective", required=True, type=date_arg, metavar="DATE", help="its effective date"
    )
    notice.add_argument("--reason", choices=[r.value for r in NoticeReason])
    notice.add_argument("--json", action="store_true")

    hearing = sub.add_parser(
        "hearing",
        parents=[common],
        help="record a fair hearing request on a notice, the client's decision not to "
        "appeal, or the outcome",
    )
    hearing.add_argument("case_number")
    hearing.add_argument("--notice", required=True, type=count_arg(1, 9999), metavar="N")
    step = hearing.add_mutually_exclusive_group(required=True)
    step.add_argument("--requested-on", type=date_arg, metavar="DATE")
    step.add_argument(
        "--declined-on",
        type=date_arg,
        metavar="DATE",
        help="the client decided not to appeal (or withdrew their hearing request)",
    )
    step.add_argument("--decision", choices=[d.value for d in HearingDecision])
    hearing.add_argument("--on", type=date_arg, metavar="DATE", help="the decision's date")
    hearing.add_argument(
        "--aid-continuing",
        choices=["yes", "no"],
        help="with --requested-on (default: yes if requested by the aid-continuing deadline)",
    )
    hearing.add_argument("--json", action="store_true")

    waiver = sub.add_parser("waiver", parents=[common], help="grant or extend a program waiver")
    waiver.add_argument("case_number")
    waiver.add_argument(
        "--requirement", required=True, choices=[r.value for r in WaiverRequirement]
    )
    waiver.add_argument(
        "--expires", dest="expires_on", required=True, type=date_arg, metavar="DATE"
    )

    follow = sub.add_parser(
        "follow-up", parents=[common], help="record a post-closure check (day 30 or 90)"
    )
    follow.add_argument("case_number")
    follow.add_argument("--day", required=True, type=count_arg(1, 3650))
    follow.add_argument("--unreachable", action="store_true", help="the client was not reached")
    follow.add_argument("--housing-kept", choices=["yes", "no"])
    follow.add_argument("--benefits-continuing", choices=["yes", "no"])

    prov = sub.add_parser("providers", parents=[common], help="the provider directory")
    prov_sub = prov.add_subparsers(dest="providers_command", required=True, metavar="ACTION")
    prov_import = prov_sub.add_parser(
        "import",
        parents=[common],
        help="import an Open Referral HSDS 3.0 directory as published: a tabular data "
        "package (folder or zip with datapackage.json), service_full JSON (one, a list, or "
        "a /services page) or flat JSON; importing it again updates it",
    )
    prov_import.add_argument("file", metavar="PATH")
    prov_import.add_argument(
        "--partners",
        metavar="FILE",
        help="referral settings by HSDS service id or taxonomy term (JSON); services it "
        "does not cover are directory-only (no electronic referral)",
    )
    prov_import.add_argument(
        "--directory",
        default="main",
        type=directory_arg,
        help="which directory this is (default main); services gone from it are marked "
        "inactive, other directories' are left alone",
    )
    prov_list = prov_sub.add_parser("list", parents=[common], help="find providers")
    prov_list.add_argument("--service", choices=[c.value for c in ServiceCategory])
    prov_list.add_argument("--language", help="a language it serves in (name or code)")
    prov_list.add_argument(
        "--near", metavar="POSTCODE", help="nearest first, by the postal codes' shared start"
    )
    prov_list.add_argument("--text", metavar="WORDS", help="every word in its description")
    prov_list.add_argument("--all", action="store_true", help="inactive providers too")
    prov_list.add_argument("--json", action="store_true")
    prov_show = prov_sub.add_parser("show", parents=[common], help="one provider in full")
    prov_show.add_argument("key", metavar="PROVIDER")
    prov_show.add_argument("--json", action="store_true")
    prov_token = prov_sub.add_parser(
        "token",
        parents=[common],
        help="keep a partner's bearer token on this machine, read from stdin (never an "
        "argument: others could read it from the process list)",
    )
    prov_token.add_argument("name", help="the token's name, as the partners file gives it")

    consent = sub.add_parser(
        "consent", parents=[common], help="record (or withdraw) consent to share with a provider"
    )
    consent.add_argument("case_number")
    consent.add_argument("--provider", required=True, help="provider id, or * for any")
    consent.add_argument("--given-on", type=date_arg, metavar="DATE", help="default: today")
    consent.add_argument("--withdraw", action="store_true")

    ref = sub.add_parser("referral", parents=[common], help="record a partner's answer by hand")
    ref.add_argument("reference")
    ref.add_argument("--status", required=True, choices=[s.value for s in ReferralStatus])
    ref.add_argument("--reason", help="the partner's reason, if any (store only)")

    sub.add_parser(
        "sync-referrals",
        parents=[common],
        help="ask the partner agencies now for their answers to open referrals "
        "(the referral-status-sync deployment does it every 10 minutes)",
    )

    doc = sub.add_parser("doc", parents=[common], help="render a case document")
    doc.add_argument("case_number")
    doc.add_argument("kind", choices=list(DOCUMENT_KINDS))
    doc.add_argument("reference", nargs="?", help="REF-… (referral letters)")
    doc.add_argument(
        "--notice", type=count_arg(1, 9999), metavar="N", help="the notice (hearing-request)"
    )
    doc.add_argument("--from", dest="period_from", type=date_arg, metavar="DATE")
    doc.add_argument("--to", dest="period_to", type=date_arg, metavar="DATE")
    doc.add_argument("--format", choices=["md", "html"], default="md")
    doc.add_argument("--out", type=Path, help="where to write it (default: the data dir)")
    doc.add_argument("--force", action="store_true", help="replace an existing --out file")

    report = sub.add_parser("report", parents=[common], help="the program manager's figures")
    report.add_argument("--as-of", type=as_of_arg, help="date or ISO time (default: now, UTC)")
    report.add_argument("--html", type=Path, metavar="FILE", help="also write the HTML report")
    report.add_argument("--force", action="store_true", help="replace an existing --html file")
    report.add_argument("--json", action="store_true")

    demo = sub.add_parser(
        "demo", parents=[common], help="create N synthetic cases at varied stages"
    )
    demo.add_argument("--cases", type=count_arg(1, 500), default=12)

    status = sub.add_parser(
        "status", parents=[common], help="the stack's health; exit 1 when something needs action"
    )
    status.add_argument("--json", action="store_true")
    status.add_argument(
        "--repair", action="store_true", help="also repair every case run listed as needing it"
    )

    repair = sub.add_parser(
        "repair", parents=[common], help="put a case's stuck run back to wait at its stage"
    )
    repair.add_argument("case_number")

    due = sub.add_parser(
        "due", parents=[common], help="what is due from a case manager, by date, with what to do"
    )
    due.add_argument("--manager", type=staff_id_arg, help="staff id (default: you)")
    due.add_argument(
        "--within", type=count_arg(0, 366), default=7, metavar="DAYS", help="default: 7"
    )
    due.add_argument("--json", action="store_true")
    move = sub.add_parser(
        "transfer",
        parents=[common],
        help="give cases to another case manager (a supervisor's or an operator's work)",
    )
    move.add_argument("case_number", nargs="*", help="cases to move (or --from)")
    move.add_argument("--from", dest="from_staff", type=staff_id_arg, help="their whole caseload")
    move.add_argument("--to", dest="to_staff", required=True, type=staff_id_arg)
    move.add_argument("--reason", required=True, choices=[r.value for r in TransferReason])
    move.add_argument(
        "--override",
        action="store_true",
        help="past the program's maximum caseload (the program's supervisor only)",
    )
    move.add_argument("--json", action="store_true")
    dupes = sub.add_parser(
        "duplicates",
        parents=[common],
        help="likely duplicate clients across the store (client numbers and scores only)",
    )
    dupes.add_argument(
        "--min-score", type=count_arg(1, 100), default=None, help="default: intake's threshold"
    )
    dupes.add_argument("--json", action="store_true")
    merge = sub.add_parser(
        "merge", parents=[common], help="merge the second client into the first (supervisors)"
    )
    merge.add_argument("kept", type=client_number_arg, metavar="CLIENT_KEPT")
    merge.add_argument("merged", type=client_number_arg, metavar="CLIENT_MERGED")

    sub.add_parser("migrate", parents=[common], help="bring the case store schema up to date")
    backup = sub.add_parser(
        "backup",
        parents=[common],
        help="copy the case store, the Prefect server's database, secrets and documents "
        "(while up runs)",
    )
    backup.add_argument("dest", type=Path, metavar="DEST", help="a new (or empty) folder")
    restore = sub.add_parser(
        "restore",
        parents=[common],
        help="make a new data directory (--data-dir) from a backup; then start casework up",
    )
    restore.add_argument("src", type=Path, metavar="SRC", help="a folder casework backup made")
    staff = sub.add_parser("staff", parents=[common], help="staff who may sign in")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    staff_actions = {
        "add": "put a staff member on the roster: on PostgreSQL their database role and "
        "grants, on SQLite the OS login that acts as them",
        "deactivate": "someone who has left: kept in old records, no longer accepted; on "
        "PostgreSQL their database role can no longer sign in",
    }
    for action, explained in staff_actions.items():
        on_one = staff_sub.add_parser(action, parents=[common], help=explained)
        on_one.add_argument("staff_id", type=staff_id_arg)
        if action == "add":
            on_one.add_argument(
                "--role", choices=[r.value for r in StaffRole], help="(default: the roster file's)"
            )
            on_one.add_argument(
                "--programs",
                type=programs_arg,
                metavar="P,P",
                help="comma-separated programs (default: the roster file's)",
            )
            on_one.add_argument("--login", type=login_arg, help="SQLite only: the OS login")
    staff_sub.add_parser("list", parents=[common], help="the roster: file and store")
    access = sub.add_parser(
        "access-log",
        parents=[common],
        help="who read which client's identity, narrative or document, newest first",
    )
    access.add_argument("--case", dest="case_number")
    access.add_argument("--staff", type=staff_id_arg)
    access.add_argument("--json", action="store_true")
    secret = sub.add_parser(
        "webhook-secret",
        parents=[common],
        help="print the secret a program's webhook POSTs are signed with (made on first use)",
    )
    secret.add_argument("program", choices=[p.value for p in Program])
    secret.add_argument(
        "--rotate", action="store_true", help="replace it: the receiver must take the new one"
    )
    sub.add_parser(
        "automations",
        parents=[common],
        help="create or update the level-3 automation (`up` and `deploy` do this themselves)",
    )
    sub.add_parser(
        "deploy",
        parents=[common],
        help="put the work pool, every deployment and the automations on the Prefect server "
        "PREFECT_API_URL names (many machines; `up` does this for one)",
    )
    return parser


def matching(pattern: str, what: str) -> Callable[[str], str]:
    """An argparse type: the text if it matches `pattern`, else one line naming `what`."""

    def check(text: str) -> str:
        if not re.match(pattern, text):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return text

    return check


staff_id_arg = matching(STAFF_ID_PATTERN, "a staff id (lowercase letters, digits, '.', '_' or '-')")
login_arg = matching(LOGIN_PATTERN, "an OS login name")
pool_arg = matching(WORK_POOL_PATTERN, "a work pool name (lowercase letters, digits and '-')")


client_number_arg = matching(r"^(?i:client)-[0-9]{1,12}$", "a client number (CLIENT-…)")


def programs_arg(text: str) -> list[Program]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    known = {p.value for p in Program}
    if not names or (unknown := [n for n in names if n not in known]):
        raise argparse.ArgumentTypeError(
            f"unknown program {', '.join(unknown) if names else '(none given)'}; "
            f"choose from {', '.join(sorted(known))}"
        )
    return [Program(n) for n in dict.fromkeys(names)]


def directory_arg(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a directory name (lower-case letters, digits, _ and -; 40 at most)"
        )
    return text


def date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def as_of_arg(text: str) -> datetime:
    """A date (its start, UTC) or an ISO time; a time without offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or ISO time") from None
    from models.rules import AsOfOutOfRange, checked_as_of

    try:
        return checked_as_of(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    except AsOfOutOfRange as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("as_of: ")) from None


# The commands that may start a new data directory; every other one needs it there.
CREATES_STORE = {"up", "migrate", "worker"}
NEEDS_NO_STORE = {"form", "deploy", "restore"}


def bootstrap(args: argparse.Namespace) -> tuple[Path, bool]:
    """Set the environment before Prefect is imported: data dir, API URL, runner settings.
    Returns the data dir and whether `up` should start its own Prefect server."""
    from casework.core.files import PRIVATE_UMASK, make_private
    from casework.core.settings import (
        DEFAULT_API_URL,
        STACK_FILE,
        default_data_dir,
        prefect_credential,
        prefect_env,
    )

    # Whatever a command writes in the data directory (a document's folder, a flow result
    # of `sweep`) is its owner's alone, as `up` requires of the whole directory.
    os.umask(PRIVATE_UMASK)
    data_dir = (args.data_dir or default_data_dir()).resolve()
    if args.command in CREATES_STORE:
        make_private(data_dir)
    elif args.command not in NEEDS_NO_STORE and not data_dir.is_dir():
        raise CliError(
            f"no Casework data directory at {data_dir}; start one there with `casework up`, "
            "or point at yours with --data-dir DIR (or CASEWORK_DATA_DIR)"
        )
    api_url = os.environ.get("PREFECT_API_URL")
    start_own = False
    if api_url is None:
        stack_file = data_dir / STACK_FILE
        if args.command == "up":
            api_url, start_own = f"http://127.0.0.1:{args.port}/api", True
        elif stack_file.exists():
            api_url = json.loads(stack_file.read_text())["api_url"]
        else:
            api_url = DEFAULT_API_URL
    os.environ["CASEWORK_DATA_DIR"] = str(data_dir)
    from casework.core.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()  # every CASEWORK_ variable checked now, before anything is done
    env = prefect_env(data_dir, api_url, settings.runner_poll_seconds, settings.heartbeat_seconds)
    for name, value in env.items():
        if name not in os.environ:
            os.environ[name] = value
    # The Prefect API is protected: `up`'s own server runs with the data directory's
    # credential (made on its first start), and every command signs in with it.
    # PREFECT_API_AUTH_STRING, if set, is the credential of a shared server.
    if start_own or "PREFECT_API_AUTH_STRING" not in os.environ:
        credential = prefect_credential(data_dir, create=start_own)
        if credential is not None:
            os.environ["PREFECT_API_AUTH_STRING"] = credential
    return data_dir, start_own


MAX_INPUT_BYTES = 5_000_000
MAX_JSON_DEPTH = 20


def _read(path: str, option: str) -> str:
    """A file (or stdin) the user named: UTF-8 text of a sane size, or one line saying why."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise CliError(f"{option}: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise CliError(f"{option}: {path} is larger than {MAX_INPUT_BYTES // 1_000_000} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{option}: {path} is not UTF-8 text") from None


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH or not isinstance(value, (dict, list)):
        return level
    children = value.values() if isinstance(value, dict) else value
    return max((_depth(child, level + 1) for child in children), default=level)


def read_json(path: str, what: str, option: str = "--file") -> Any:
    from casework.core import strict_json

    text = _read(path, option)
    try:
        data = strict_json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{option}: {what} is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    except strict_json.JSONRefused as exc:
        raise CliError(f"{option}: {what}: {exc}") from None
    except RecursionError:
        data = None  # json.loads ran out of recursion: deeper than any limit
        deep = True
    else:
        deep = _depth(data) > MAX_JSON_DEPTH
    if deep:
        raise CliError(f"{option}: {what} is nested more than {MAX_JSON_DEPTH} levels deep")
    return data


def read_text(path: str, option: str) -> str:
    text = _read(path, option).strip()
    if not text:
        raise CliError(f"{option}: {path} is empty")
    return free_text(text, option)


def free_text(value: str, option: str) -> str:
    """A reason or note given on the command line: checked like any text a person typed."""
    from pydantic import TypeAdapter, ValidationError

    from models.schemas import FreeText

    try:
        return TypeAdapter(FreeText).validate_python(value)
    except ValidationError as exc:
        raise CliError(f"{option}: {exc.errors()[0]['msg']}") from None


def port_arg(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (1-65535)")
    return port


def prefect_database_arg(text: str) -> str:
    from casework.core.settings import prefect_server_database

    try:
        return prefect_server_database(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seconds_arg(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or not 0 < seconds <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 86400 seconds")
    return seconds


def count_arg(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def emit(data: Any, as_json: bool, text: Callable[[], str]) -> None:
    print(json.dumps(data, indent=2, default=str) if as_json else text())


def cmd_intake(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from casework import services
    from models.forms import describe_error
    from models.schemas import ClientIn

    if args.client and args.new_client:
        raise CliError("--new-client: not with --client (that links an existing client)")
    client: ClientIn | str = args.client.upper() if args.client else ""
    if args.file:
        try:
            client = ClientIn.model_validate(read_json(args.file, "client"))
        except ValidationError as exc:
            raise CliError(describe_error(exc, "client: ")) from None
    actor = signed_in()
    manager = args.case_manager or actor
    if not re.match(STAFF_ID_PATTERN, manager):
        raise CliError("--case-manager: must be a staff id (lowercase letters, digits, . _ -)")
    check_roster(manager, Program(args.program), RecipientRole.CASE_MANAGER, "--case-manager")
    reason = NewClientReason(args.new_client) if args.new_client else None
    result = services.cases.intake(
        client, Program(args.program), manager, actor, new_client_reason=reason
    )
    emit(result.__dict__, args.json, lambda: result.case_number)
    return 0


def check_roster(staff_id: str, program: Program, role: RecipientRole | None, option: str) -> None:
    """Refuse, naming `option`, a staff id that is not active staff of the program."""
    from casework.services.staff import roster
    from models.staff import NotOnRoster, check_staff

    try:
        check_staff(roster(), staff_id, program, role)
    except NotOnRoster as exc:
        default = " (default: CASEWORK_ACTOR, your login)" if option == "--case-manager" else ""
        raise CliError(f"{option}: {exc}{default}") from None


def cmd_submit(args: argparse.Namespace) -> int:
    from casework import services

    stage = Stage(args.stage)
    form = services.stages.parse_stage_form(stage, read_json(args.file, f"{stage.value} form"))
    narrative = read_text(args.narrative_file, "--narrative-file") if args.narrative_file else None
    result = services.stages.submit(
        args.case_number,
        stage,
        form,
        narrative=narrative,
        actor=signed_in(),
        wait=args.wait,
        timeout=args.timeout,
    )
    emit(result.__dict__, args.json, lambda: _submit_line(result))
    return 0 if result.outcome in {"submitted", "moved"} else EXIT_ERROR


def _submit_line(result: Any) -> str:
    if result.outcome == "submitted":
        return f"{result.case_number}: {result.stage} form submitted ({result.stage_key})"
    if result.outcome == "moved":
        return f"{result.case_number}: {result.stage_key} recorded; now at {result.stage}"
    return f"{result.case_number}: {result.stage_key} {result.outcome}: {result.error}"


def cmd_show(args: argparse.Namespace) -> int:
    from casework import services
    from casework.views import case_text

    detail = services.cases.show(args.case_number, reader=signed_in())
    emit(detail.public(), args.json, lambda: case_text(detail))
    return 0


def cmd_cases(args: argparse.Namespace) -> int:
    from casework import services
    from casework.views import caseload_text

    rows = services.cases.caseload(
        Stage(args.stage) if args.stage else None,
        Program(args.program) if args.program else None,
        CaseStatus(args.status) if args.status else None,
    )
    emit([row.model_dump(mode="json") for row in rows], args.json, lambda: caseload_text(rows))
    return 0


def signed_in() -> str:
    """Who is acting (casework.core.identity): the store's sign-in, never a declared name."""
    from casework.services.staff import signed_in as who

    return who()


def cmd_form(args: argparse.Namespace) -> int:
    from casework.core.settings import default_actor
    from models.lifecycle import STAGES

    spec = STAGES[Stage(args.stage)]
    assert spec.form is not None
    assert spec.example is not None
    data = (
        spec.example(date.today(), default_actor()).model_dump(mode="json")
        if args.example
        else spec.form.model_json_schema()
    )
    print(json.dumps(data, indent=2))
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from casework import services
    from models.forms import describe_error
    from models.schemas import ContactIn

    try:
        data = ContactIn(contact_type=ContactType(args.type), text=args.text, crisis=args.crisis)
    except ValidationError as exc:
        raise CliError(describe_error(exc, "note: ")) from None
    warning = services.cases.note(args.case_number, data, signed_in())
    crisis = " (crisis: escalating now)" if args.crisis and not warning else ""
    print(f"{args.case_number.upper()}: {data.contact_type.value} recorded{crisis}")
    if warning:
        print(f"casework: warning: {warning}", file=sys.stderr)
    return 0


def cmd_reopen(args: argparse.Namespace) -> int:
    from casework import services

    reason = free_text(args.reason, "--reason")
    result = services.cases.reopen(args.case_number, reason, signed_in())
    print(f"{result.case_number}: reopened as a new episode, now at {result.stage}")
    return 0


def cmd_reassess(args: argparse.Namespace) -> int:
    from casework import services

    note = free_text(args.note, "--note") if args.note else None
    result = services.stages.reassess(
        args.case_number,
        ReassessmentReason(args.reason),
        signed_in(),
        note=note,
        wait=args.wait,
    )
    asked = f"{result.case_number}: reassessment asked for at {result.stage_key}"
    if result.outcome == "submitted":
        print(f"{asked}; its run is taking it back to assessment")
    elif result.outcome == "held":  # recorded; the case moves once Prefect answers again
        print(asked)
        print(f"casework: warning: {result.error}", file=sys.stderr)
    else:
        print(_submit_line(result))
    return 0 if result.outcome in {"submitted", "moved", "held"} else EXIT_ERROR


def cmd_sweep(args: argparse.Namespace) -> int:
    from casework import services

    watches = [Watch(w) for w in args.watch] if args.watch else list(Watch)
    if args.case_number and not args.watch:
        watches = [Watch.STALLED_CASES, Watch.BENEFITS]
    if args.on_pool:
        said, completed = services.sweeps.sweep_on_pool(watches, args.as_of, args.case_number)
        emit(said, args.json, lambda: "\n".join(f"{w}: {line}" for w, line in said.items()))
        return 0 if completed else EXIT_ERROR
    totals = sweep(watches, args.as_of, args.case_number)
    emit(
        totals,
        args.json,
        lambda: "\n".join(sweep_line(watch, counts) for watch, counts in totals.items()),
    )
    return 0


def sweep(watches: list[Watch], as_of: datetime | None, case_number: str | None) -> dict[str, Any]:
    """Run sweeps here and now, as flow runs on the dashboard (with their artifacts)."""
    from casework.core import prefect_api
    from casework.services.sweeps import one_case
    from flows.sweeps import SWEEPS

    prefect_api.check_ready(prefect_api.SWEEP_DEPLOYMENT)
    if case_number is not None:
        case_number = one_case(watches, case_number)
        return {watch.value: SWEEPS[watch](as_of, case_number) for watch in watches}
    return {watch.value: SWEEPS[watch](as_of) for watch in watches}


def sweep_line(watch: str, counts: dict[str, Any]) -> str:
    """One watch's totals; a preview (a future --as-of) says so first."""
    shown = {k: v for k, v in counts.items() if k != "preview"}
    head = f"{watch} (preview: nothing written or sent)" if counts.get("preview") else watch
    return f"{head}: " + ", ".join(f"{k} {v}" for k, v in shown.items())


def cmd_escalations(args: argparse.Namespace) -> int:
    from casework import services
    from casework.views import escalations_text

    rows = services.sweeps.escalation_list(args.open, args.case)
    emit([row.model_dump(mode="json") for row in rows], args.json, lambda: escalations_text(rows))
    return 0


def cmd_benefit(args: argparse.Namespace) -> int:
    from casework import services

    kind = BenefitKind(args.kind)
    if args.ended:
        services.benefits.end_benefit(args.case_number, kind, signed_in())
        print(f"{args.case_number.upper()}: {kind.value} ended; no longer watched")
    else:
        services.benefits.record_benefit(args.case_number, kind, args.recertify_by, signed_in())
        print(f"{args.case_number.upper()}: {kind.value} to recertify by {args.recertify_by}")
    return 0


def cmd_notice(args: argparse.Namespace) -> int:
    from casework import services

    result = services.benefits.record_notice(
        args.case_number,
        BenefitKind(args.benefit),
        NoticeAction(args.action),
        NoticeReason(args.reason) if args.reason else None,
        args.notice_date,
        args.effective,
        signed_in(),
    )
    return _notice_done(args, result, _notice_recorded)


def _notice_recorded(result: Any) -> str:
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


def _notice_done(args: argparse.Namespace, result: Any, text: Callable[[Any], str]) -> int:
    emit(result.notice.model_dump(mode="json"), args.json, lambda: text(result))
    if result.warning:
        print(f"casework: warning: {result.warning}", file=sys.stderr)
    return 0


def cmd_hearing(args: argparse.Namespace) -> int:
    from casework import services

    if args.aid_continuing and args.requested_on is None:
        raise CliError("--aid-continuing: goes with --requested-on")
    if (args.on is None) != (args.decision is None):
        raise CliError("--on: give the decision's date with --decision, and only with it")
    result = services.benefits.record_hearing(
        args.case_number,
        args.notice,
        signed_in(),
        requested_on=args.requested_on,
        aid_continuing=None if args.aid_continuing is None else args.aid_continuing == "yes",
        declined_on=args.declined_on,
        decision=HearingDecision(args.decision) if args.decision else None,
        decided_on=args.on,
    )
    return _notice_done(args, result, _hearing_recorded)


def _hearing_recorded(result: Any) -> str:
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


def cmd_waiver(args: argparse.Namespace) -> int:
    from casework import services

    requirement = WaiverRequirement(args.requirement)
    services.benefits.record_waiver(args.case_number, requirement, args.expires_on, signed_in())
    print(f"{args.case_number.upper()}: {requirement.value} waiver until {args.expires_on}")
    return 0


def cmd_follow_up(args: argparse.Namespace) -> int:
    from casework import services

    if args.unreachable == bool(args.housing_kept or args.benefits_continuing):
        raise CliError("--housing-kept/--benefits-continuing: give both, or --unreachable instead")
    if not args.unreachable and not (args.housing_kept and args.benefits_continuing):
        raise CliError("--housing-kept/--benefits-continuing: give both (yes or no)")
    outcome = services.benefits.record_follow_up(
        args.case_number,
        args.day,
        reached=not args.unreachable,
        housing_kept=None if args.unreachable else args.housing_kept == "yes",
        benefits_continuing=None if args.unreachable else args.benefits_continuing == "yes",
        actor=signed_in(),
    )
    proposal = "" if outcome == "stable" else "; reopening proposed (see casework escalations)"
    print(f"{args.case_number.upper()}: day-{args.day} check {outcome}{proposal}")
    return 0


CHANGES_LISTED = 20  # an import names what changed for this many services, then counts


def cmd_providers(args: argparse.Namespace) -> int:
    from casework import services

    if args.providers_command == "import":
        partners = (
            read_json(args.partners, "partners file", "--partners") if args.partners else None
        )
        report = services.providers.import_providers(
            Path(args.file), partners=partners, directory=args.directory
        )
        for problem in report.problems:
            print(f"casework: skipped {problem}", file=sys.stderr)
        for note in report.notes:
            print(f"casework: note: {note}", file=sys.stderr)
        changed = [key for key in report.updated if report.changed.get(key)]
        for key in changed[:CHANGES_LISTED]:
            print(f"updated {key}: {', '.join(report.changed[key])}")
        if len(changed) > CHANGES_LISTED:
            print(f"... and {len(changed) - CHANGES_LISTED} more updated")
        print(
            f"directory {args.directory} ({report.form}): {len(report.added)} added, "
            f"{len(report.updated)} updated, {report.unchanged} unchanged, "
            f"{len(report.inactivated)} inactivated, {len(report.problems)} skipped"
        )
        return 0 if report.imported or not report.problems else EXIT_ERROR
    if args.providers_command == "token":
        services.providers.set_partner_token(args.name, sys.stdin.readline())
        print(f"token {args.name} kept on this machine")
        return 0
    if args.providers_command == "show":
        row = services.providers.provider(args.key)
        emit(row.model_dump(mode="json"), args.json, lambda: provider_card(row))
        return 0
    from models.providers import Search

    rows = services.providers.provider_list(
        Search(
            category=ServiceCategory(args.service) if args.service else None,
            language=args.language,
            near=args.near,
            text=args.text,
            include_inactive=args.all,
        )
    )
    emit(
        [row.model_dump(mode="json") for row in rows],
        args.json,
        lambda: "\n".join(provider_line(r) for r in rows) or "no providers",
    )
    return 0


def provider_line(row: ProviderOut) -> str:
    if row.referral != "electronic":
        referral = "no electronic referral"
    elif row.response_days:
        referral = f"answers within {row.response_days} d"
    else:
        referral = "answers by program"
    extras = [
        row.location or "-",
        *([row.phone] if row.phone else []),
        *([", ".join(row.languages)] if row.languages else []),
        referral,
        *(["waitlist"] if row.waitlist else []),
        *([] if row.active else ["inactive"]),
    ]
    return (
        f"{row.key:<20} {row.category or 'directory only':<26} "
        f"{row.organization} / {row.service_name} ({'; '.join(extras)})"
    )


def provider_card(row: ProviderOut) -> str:
    fields = [
        ("provider", row.key),
        ("service", row.service_name),
        ("organization", row.organization),
        ("status", "active" if row.active else "inactive"),
        (
            "referral",
            row.referral
            if row.referral == "electronic"
            else "no electronic "
            "referral: make it by hand, then record the answer with `casework referral`",
        ),
        ("category", row.category),
        ("programs", ", ".join(row.programs)),
        ("answers within", f"{row.response_days} days" if row.response_days else None),
        ("capacity", str(row.capacity) if row.capacity is not None else None),
        ("waitlist", "yes" if row.waitlist else None),
        ("address", row.address),
        ("phone", row.phone),
        ("languages", ", ".join(row.languages)),
        ("hours", row.hours),
        ("eligibility", row.eligibility),
        ("taxonomy", "; ".join(row.taxonomy)),
        ("description", row.description),
        ("directory", row.directory),
    ]
    return "\n".join(f"{name + ':':<15} {value}" for name, value in fields if value)


def cmd_consent(args: argparse.Namespace) -> int:
    from casework import services
    from casework.core.errors import Deferred

    actor = signed_in()
    if args.withdraw:
        later = ""
        try:
            cancelled = services.referrals.withdraw_consent(args.case_number, args.provider, actor)
        except Deferred as deferred:
            cancelled, later = deferred.done, f"; {deferred.case_number} {back_later()}"
        print(
            f"{args.case_number.upper()}: consent for {args.provider} withdrawn"
            f"{'; cancelled ' + ', '.join(cancelled) if cancelled else ''}{later}"
        )
        return 0
    given_on = args.given_on or date.today()
    services.referrals.give_consent(args.case_number, args.provider, given_on, actor)
    print(f"{args.case_number.upper()}: consent to share with {args.provider} from {given_on}")
    return 0


def cmd_referral(args: argparse.Namespace) -> int:
    from casework import services

    reason = free_text(args.reason, "--reason") if args.reason else None
    case_number, moved = services.referrals.record_referral_status(
        args.reference, ReferralStatus(args.status), reason, signed_in()
    )
    follow: dict[bool | None, str] = {True: f"; {case_number} moves on", False: ""}
    follow[None] = f"; {case_number} {back_later()}"
    print(f"{args.reference.upper()}: {args.status} recorded{follow[moved]}")
    return 0


def cmd_sync_referrals(args: argparse.Namespace) -> int:
    from casework.core import prefect_api
    from flows.referral_sync import referral_status_sync

    prefect_api.check_ready(prefect_api.REFERRAL_SYNC_DEPLOYMENT)
    done = referral_status_sync()
    print(
        f"{done['providers']} partner(s) asked: {done['changes']} answer(s) changed, "
        f"{done['resumed']} case(s) moved on"
    )
    return 0


def cmd_doc(args: argparse.Namespace) -> int:
    from casework.services.documents import produce

    if args.kind == "referral" and not args.reference:
        raise CliError("reference: a referral letter needs the referral (REF-…)")
    if args.kind != "referral" and args.reference:
        raise CliError(f"reference: only a referral letter takes one, not {args.kind}")
    if (args.kind == HEARING_REQUEST) != (args.notice is not None):
        raise CliError(
            f"--notice: a {HEARING_REQUEST} letter needs the notice (--notice N)"
            if args.notice is None
            else f"--notice: only a {HEARING_REQUEST} letter takes one, not {args.kind}"
        )
    period = None
    if args.kind == "notes":
        if not (args.period_from and args.period_to):
            raise CliError("--from/--to: a notes summary needs both dates")
        period = (args.period_from, args.period_to)
    rendered = produce(
        args.case_number,
        args.kind,
        args.format,
        signed_in(),
        reference=args.reference if args.notice is None else str(args.notice),
        period=period,
        out=args.out,
        force=args.force,
    )
    print(f"{rendered.path} (sha256 {rendered.sha256[:12]}…)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from casework.core.files import protected_paths, write_out
    from casework.services.reports import caseload_report, to_html, to_text

    report = caseload_report(args.as_of or datetime.now(UTC))
    if args.html:
        written = write_out(
            args.html,
            to_html(report),
            option="--html",
            force=args.force,
            protected=protected_paths(),
        )
        # On stderr: stdout stays the report itself (or its JSON).
        print(f"HTML report written to {written}", file=sys.stderr)
    emit(asdict(report), args.json, lambda: to_text(report))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from casework.core.prefect_api import check_ready
    from casework.core.settings import get_settings
    from casework.demo import run_demo, running_partner

    url, token = running_partner(get_settings().data_dir)
    check_ready()
    print(run_demo(args.cases, url, token))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from casework import status

    found = status.check()
    repaired = status.repair_all(found.case_runs) if args.repair else []
    emit(
        {**found.as_json(), "repaired": repaired},
        args.json,
        lambda: "\n".join([status.to_text(found), *repaired]),
    )
    still = [a for a in found.actions if not (repaired and "casework repair" in a)]
    return EXIT_ERROR if still else 0


def cmd_repair(args: argparse.Namespace) -> int:
    from casework import status

    print(status.repair(args.case_number))
    return 0


def cmd_due(args: argparse.Namespace) -> int:
    from casework import services

    today = datetime.now(UTC).date()  # the sweeps' day, whose breaches the list comes before
    manager = args.manager or signed_in()
    items = services.cases.due(manager, args.within, today)
    emit(
        [i.as_dict(today) for i in items],
        args.json,
        lambda: (
            "\n".join(
                f"{i.due_on}{' OVERDUE' if i.overdue(today) else '        '}  {i.case_number}  "
                f"{i.what:<16} {i.subject:<22} {i.action}"
                for i in items
            )
            or f"nothing due from {manager} in the next {args.within} days"
        ),
    )
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from casework import services

    if bool(args.case_number) == bool(args.from_staff):
        raise CliError("case_number: give the cases to move, or --from STAFF, not both")
    done, warning = services.transfers.transfer(
        [n.upper() for n in args.case_number],
        args.from_staff,
        args.to_staff,
        TransferReason(args.reason),
        args.override,
        signed_in(),
    )
    emit(
        [t.__dict__ for t in done],
        args.json,
        lambda: "\n".join(
            f"{t.case_number}: {t.from_manager} -> {t.to_manager}"
            f"{f' ({t.escalations} open escalation(s) handed over)' if t.escalations else ''}"
            for t in done
        ),
    )
    if warning:
        print(f"casework: warning: {warning}", file=sys.stderr)
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    from casework import services
    from models.matching import LIKELY

    pairs = services.clients.duplicates(signed_in(), args.min_score or LIKELY)
    emit(
        [
            {"clients": [p.first, p.second], "score": p.match.score, "signals": p.match.signals}
            for p in pairs
        ],
        args.json,
        lambda: (
            "\n".join(
                f"{p.first}  {p.second}  score {p.match.score}  ({', '.join(p.match.signals)})"
                for p in pairs
            )
            or "no likely duplicates"
        ),
    )
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from casework import services

    kept, merged = args.kept.upper(), args.merged.upper()
    moved = services.clients.merge(kept, merged, signed_in())
    print(f"{merged} merged into {kept}: {moved} case(s) moved")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from casework.core.db import migrate

    migrate()
    print("case store is up to date")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from casework.backup import backup

    made = backup(args.dest)
    print(
        f"backed up to {args.dest}: Casework {made.casework}, store schema {made.schema}, "
        f"{len(made.files)} files with their checksums in manifest.json ({made.made_at})"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from casework.backup import restore
    from casework.core.settings import get_settings

    data_dir = get_settings().data_dir.resolve()
    made = restore(args.src, data_dir)
    print(
        f"restored {data_dir} from the backup of {made.made_at} (Casework {made.casework}, "
        f"store schema {made.schema}); start it with `casework up --data-dir {data_dir}`"
    )
    return 0


def cmd_automations(args: argparse.Namespace) -> int:
    from casework.automations import ensure_automations

    for name, done in ensure_automations():
        print(f"{name}: {done}")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from casework.core.prefect_api import api_is_healthy, api_url, what_to_start
    from casework.status import carry_over
    from casework.worker import deploy

    if not api_is_healthy(api_url()):
        raise CliError(f"Prefect server at {api_url()} is not answering; {what_to_start('server')}")
    print("\n".join(deploy()))
    if carried := carry_over():  # after an upgrade: waiting runs as this release has them
        print("\n".join(carried))
    return 0


def cmd_staff(args: argparse.Namespace) -> int:
    from casework import services
    from casework.services.staff import roster

    if args.staff_command == "list":
        for member in roster().values():
            programs = ",".join(sorted(p.value for p in member.programs))
            state = "" if member.active else "  (inactive)"
            login = f"  login {member.login}" if member.login else ""
            print(f"{member.id:<20} {member.role.value:<16} {programs}{login}{state}")
        return 0
    if args.staff_command == "deactivate":
        services.staff.deactivate_staff(args.staff_id, signed_in_or_owner())
        print(f"{args.staff_id}: inactive")
        return 0
    member = services.staff.add_staff(
        args.staff_id,
        StaffRole(args.role) if args.role else None,
        args.programs,
        args.login,
        signed_in_or_owner(),
    )
    programs = ", ".join(sorted(p.value for p in member.programs))
    signs_in = f"; OS login {member.login} acts as them" if member.login else ""
    print(f"{member.id}: {member.role.value} of {programs}{signs_in}")
    return 0


def signed_in_or_owner() -> str:
    """Who adds staff: the signed-in staff member; on a SQLite store nobody is mapped yet,
    the data directory's owner (its OS login), who alone can open it."""
    from casework.core.identity import NotSignedIn
    from casework.core.settings import login_as_staff_id

    try:
        return signed_in()
    except NotSignedIn:
        from casework.core.db import default_engine

        if default_engine().dialect.name == "postgresql":
            raise
        return f"os.{login_as_staff_id()}"[:40]


def cmd_access_log(args: argparse.Namespace) -> int:
    from casework import services

    rows = services.staff.access_log(args.case_number, args.staff)
    emit(
        [r.model_dump(mode="json") for r in rows],
        args.json,
        lambda: (
            "\n".join(
                f"{r.at:%Y-%m-%d %H:%M:%S}Z  {r.staff:<16} {r.case_number}  {r.what}" for r in rows
            )
            or "no reads logged"
        ),
    )
    return 0


def cmd_webhook_secret(args: argparse.Namespace) -> int:
    from casework.core.credentials import webhook_secret

    print(webhook_secret(args.program, rotate=args.rotate))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "webhook-secret": cmd_webhook_secret,
    "staff": cmd_staff,
    "access-log": cmd_access_log,
    "intake": cmd_intake,
    "submit": cmd_submit,
    "show": cmd_show,
    "cases": cmd_cases,
    "form": cmd_form,
    "note": cmd_note,
    "reopen": cmd_reopen,
    "demo": cmd_demo,
    "migrate": cmd_migrate,
    "backup": cmd_backup,
    "restore": cmd_restore,
    "duplicates": cmd_duplicates,
    "transfer": cmd_transfer,
    "due": cmd_due,
    "merge": cmd_merge,
    "status": cmd_status,
    "repair": cmd_repair,
    "reassess": cmd_reassess,
    "sweep": cmd_sweep,
    "escalations": cmd_escalations,
    "benefit": cmd_benefit,
    "waiver": cmd_waiver,
    "notice": cmd_notice,
    "hearing": cmd_hearing,
    "follow-up": cmd_follow_up,
    "automations": cmd_automations,
    "deploy": cmd_deploy,
    "providers": cmd_providers,
    "consent": cmd_consent,
    "referral": cmd_referral,
    "sync-referrals": cmd_sync_referrals,
    "doc": cmd_doc,
    "report": cmd_report,
}


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "prefect_database_url", None):  # read with the other settings, next
        os.environ["CASEWORK_PREFECT_DATABASE_URL"] = args.prefect_database_url
    data_dir, start_own = bootstrap(args)
    if args.command not in {"up", "worker"}:
        # A command that runs a flow here (`sweep`) logs to the Prefect server, not to the
        # terminal: what it did is its own output. (`up` keeps them in its runner log.)
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    if args.command == "up":
        from casework.stack import up

        return up(data_dir, start_own, args.port, args.demo, args.verbose)
    if args.command == "worker":
        from casework.worker import serve

        return serve(args.pool, args.limit)
    if args.command not in {"form", "migrate", "deploy", "restore", "backup"}:  # any schema
        from casework.core.db import check_schema

        check_schema()
        from casework.core.settings import get_settings

        # A declared actor who is not who signed in is refused, whatever the command (`staff`
        # checks it itself: on SQLite it may be mapping the login that makes it true).
        if get_settings().actor is not None and args.command != "staff":
            signed_in()
    return COMMANDS[args.command](args)


def main(argv: Sequence[str] | None = None) -> None:
    from casework.core.error_log import record_unexpected

    try:
        code = run(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`casework show … | head`): what it read was all it wanted.
        # Point stdout at nothing so the interpreter's own flush at exit does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except Exception as exc:
        from casework.core.prefect_api import HandOverUnconfirmed

        if isinstance(exc, HandOverUnconfirmed):
            print(f"casework: {exc}", file=sys.stderr)
            sys.exit(EXIT_UNCONFIRMED)
        if isinstance(exc, UserError):
            print(f"casework: error: {_as_flag(exc, argv)}", file=sys.stderr)
            if exc.end_at_once:
                # Prefect's exit handlers would try to send this process's last logs and
                # events to the server that is gone, and print each failure after our line.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(EXIT_ERROR)
        else:
            command = next((a for a in (argv or sys.argv[1:]) if not a.startswith("-")), "")
            reference, log = record_unexpected(exc, command)
            print(
                f"casework: error: unexpected {type(exc).__name__} (reference {reference}); "
                f"details for your administrator are in {log}",
                file=sys.stderr,
            )
        code = EXIT_ERROR
    sys.exit(code)


def _as_flag(exc: UserError, argv: Sequence[str] | None) -> str:
    """A user error's line with its field named as this command line names it: the option
    of the command that has the field as its destination (`notice_date`: `--notice-date`),
    or the argument's name."""
    if exc.field is None:
        return str(exc)
    return f"{flag_for(exc.field, list(argv if argv is not None else sys.argv[1:]))}: {exc}"


def flag_for(field: str, argv: list[str]) -> str:
    parser: argparse.ArgumentParser = build_parser()
    words = [a for a in argv if not a.startswith("-")]
    while words:  # down the subcommands the command line named (`providers import`)
        commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not commands or words[0] not in commands[0].choices:
            break
        parser = commands[0].choices[words.pop(0)]
    for action in parser._actions:
        if action.dest == field:
            named = action.metavar if isinstance(action.metavar, str) else field
            return max(action.option_strings, key=len, default=named)
    return field  # not one of this command's inputs: the domain's word
