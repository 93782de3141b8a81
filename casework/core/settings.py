"""Configuration from the environment (prefix CASEWORK_), checked once at start-up."""

from __future__ import annotations

import base64
import getpass
import json
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from casework.core.errors import UserError

if TYPE_CHECKING:
    from datetime import time
    from zoneinfo import ZoneInfo

STAFF_ID_PATTERN = r"^[a-z][a-z0-9._-]{0,39}$"
LOGIN_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"  # an OS login, as the roster maps it to a staff id
WORK_POOL_PATTERN = r"^[a-z][a-z0-9-]{0,59}$"


class SettingsError(UserError):
    """A CASEWORK_ variable holds a value we refuse to start with."""


PREFIX = "CASEWORK_"


class CaseworkSettings(BaseModel):
    """Each field is read from CASEWORK_<FIELD> (a list as JSON). Plain pydantic, not
    pydantic-settings: its import alone cost every command a tenth of a second of CPU."""

    model_config = ConfigDict(extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: default_data_dir(),
        description="where the case store (SQLite), the Prefect server's database, "
        "documents, logs and secrets live",
        json_schema_extra={
            "shown_default": "`./.casework` if there, else your user data "
            "directory (Linux: `~/.local/share/casework`)"
        },
    )
    database_url: str | None = Field(
        default=None,
        description="the case store, e.g. `postgresql+psycopg://host/db` (on PostgreSQL, "
        "each staff member signs in as their own role)",
        json_schema_extra={"shown_default": "SQLite in the data directory"},
    )
    programs_file: Path | None = Field(
        default=None,
        description="per program: SLA days per stage, contact and reassessment cadence, "
        "referral response window, escalation interval and recipients, webhook, caseload "
        "limits, the instruments its assessment asks (TOML; the agency's own instruments in "
        "`instruments/` beside it)",
        json_schema_extra={"shown_default": "`models/programs.toml`"},
    )
    staff_file: Path | None = Field(
        default=None,
        description="the staff roster: each staff id's role, programs, whether active, and "
        "the OS login that acts as them on SQLite (TOML)",
        json_schema_extra={"shown_default": "`models/staff.toml`"},
    )
    notices_file: Path | None = Field(
        default=None,
        description="per benefit kind: whether aid continues pending a hearing, the "
        "aid-continuing and hearing-request windows, the notice ladder's days before the "
        "deadline (TOML). US defaults: check them against your state's rules",
        json_schema_extra={"shown_default": "`models/notices.toml`"},
    )
    actor: str | None = Field(
        default=None,
        description="which of your staff ids acts: checked against who signed in "
        "(PostgreSQL: must be the database role; SQLite: one of the staff ids your OS "
        "login holds)",
    )
    # The worker is woken by the server's event when a run is due; the poll is the
    # fallback, and each poll is a write on the server's database (SQLite locks under many).
    runner_poll_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        allow_inf_nan=False,
        description="how often the worker asks for runs as a fallback (it is woken by the "
        "server's event as soon as a run in its pool is due; each poll is a write on the "
        "server's database); `prefect worker start` reads `PREFECT_WORKER_QUERY_SECONDS`",
    )
    runner_limit: int = Field(
        default=10, ge=1, le=200, description="flow runs one worker runs at once"
    )
    work_pool: str = Field(
        default="casework",
        pattern=WORK_POOL_PATTERN,
        description="the work pool `casework up` serves and `casework worker` polls",
    )
    heartbeat_seconds: int = Field(
        default=30,
        ge=30,
        le=600,
        description="how often a running flow run tells the Prefect server it is alive",
    )
    lost_run_seconds: int = Field(
        default=90,
        ge=60,
        le=3600,
        description="a run silent this long is Crashed by the lost-run automation, and a "
        "case run is then rescheduled (at least twice the heartbeat); read by `casework up` "
        "and `casework deploy`, which write it into the automation",
    )
    schedules: bool = Field(
        default=True,
        description="serve the scheduled deployments with their crons (`off`: by hand "
        "only); read where deployments are made, by `casework up` and `casework deploy`",
    )
    partner_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        allow_inf_nan=False,
        description="per read from a partner agency",
    )
    partner_deadline_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        allow_inf_nan=False,
        description="the whole of one call to a partner agency, however slowly it trickles",
    )
    partner_retry_seconds: list[Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)]] = (
        Field(
            default=[2.0, 10.0, 30.0],
            max_length=10,
            description="delays between attempts to send a referral (JSON)",
        )
    )
    webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, allow_inf_nan=False, description="per webhook attempt"
    )
    webhook_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="attempts per sweep before a webhook is left for the next sweep",
    )
    dev_mode: bool = Field(
        default=False,
        description="accept partner endpoints on loopback over plain http (the demo's own "
        "partner agency, the tests)",
    )
    write_ahead: bool = Field(
        default=False,
        description="development only (needs `CASEWORK_DEV_MODE`): a sweep or report with a "
        "future `as_of` writes, sends and publishes as if that day had come; off, it is a "
        "preview that writes and sends nothing",
    )
    redis_url: str | None = Field(
        default=None,
        description="the Redis a scaled-out Prefect server (`casework prefect-server`) uses for "
        "messaging and its background services, as `redis://host:port/db`",
        json_schema_extra={"shown_default": "Debian's redis-server, started on loopback"},
    )
    prefect_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="days a finished run of a sweep, sync, report, brief or reassessment, or "
        "a closed case's run, stays on the Prefect server before the daily "
        "`prefect-retention` flow deletes it with its logs (an open case's run is never "
        "deleted; the case store keeps every record)",
    )
    masking_log: Path | None = Field(
        default=None,
        description="the masking log: one line (numbers, rules, batches only) for each case's "
        "records and each client's identity retention masked. Keep it outside the store and "
        "its backups' lifetime: a store restored from an older backup is masked again from "
        "it (`casework restore` does; `casework reapply-masking` for PostgreSQL)",
        json_schema_extra={"shown_default": "masking-log.jsonl in the data directory"},
    )
    prefect_database_url: str | None = Field(
        default=None,
        description="PostgreSQL for the Prefect server `casework up` starts (as `up "
        "--prefect-database-url`)",
        json_schema_extra={"shown_default": "SQLite in the data directory"},
    )

    desk_host: str = Field(
        default="127.0.0.1",
        pattern=r"^[A-Za-z0-9.:-]{1,253}$",
        description="the address the desk listens on: loopback unless the desk is put behind "
        "a TLS proxy (docs/operators.md, 'The desk behind TLS')",
    )
    desk_port: int = Field(
        default=4300, ge=1, le=65535, description="the desk's port (`casework up`, `casework desk`)"
    )
    desk_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="the desk's address as staff reach it (the TLS proxy's), for the link on "
        "each case card on the dashboard",
        json_schema_extra={"shown_default": "`http://DESK_HOST:DESK_PORT`"},
    )
    dashboard_port: int = Field(
        default=4301,
        ge=1,
        le=65535,
        description="with single sign-on (CASEWORK_SSO_ISSUER), the port of the dashboard's "
        "gate, which signs people in before the Prefect UI (it listens on DESK_HOST)",
    )
    dashboard_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="with single sign-on, the dashboard's address as people reach it (the "
        "TLS proxy's)",
        json_schema_extra={"shown_default": "`http://DESK_HOST:DASHBOARD_PORT`"},
    )
    timezone: str = Field(
        default="UTC",
        description="the agency's time zone (an IANA name, e.g. `America/New_York`): "
        "appointments are booked and shown in it, and kept in UTC",
    )
    quiet_hours: str = Field(
        default="21:00-08:00",
        pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$",
        description="local hours (HH:MM-HH:MM, in CASEWORK_TIMEZONE) when no message goes to "
        "a client: one due then waits for their end; the morning's reminders go at their end "
        "(not before 07:00)",
    )
    agency_name: str | None = Field(
        default=None,
        max_length=60,
        description="how messages to clients sign off, and the letterhead of printed "
        "documents (an agency's name, not a program's)",
        json_schema_extra={
            "shown_default": '"your case manager", in the client\'s language; documents '
            "carry no letterhead"
        },
    )
    agency_phone: str | None = Field(
        default=None,
        pattern=r"^[0-9 +().-]{5,40}$",
        description="the number messages give clients to call to rebook or ask",
        json_schema_extra={
            "shown_default": "none: messages say to reply, or call the case manager"
        },
    )
    agency_address: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[^<>\n]+$",
        description="the agency's postal address, on the letterhead of every printed "
        "document (one line; commas between its parts)",
        json_schema_extra={"shown_default": "none: documents carry the agency's name only"},
    )
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=100 * 1024 * 1024,
        description="the largest file a case may have attached (a scan, a photo, a recording), "
        "in bytes",
        json_schema_extra={"shown_default": "10485760 (10 MB)"},
    )
    attachment_keys_file: Path | None = Field(
        default=None,
        description="the keys attachments are encrypted with (one per line, newest first; "
        "0600): every machine that attaches or opens files of the same case store needs the "
        "same file (docs/operators.md, 'Attachments')",
        json_schema_extra={
            "shown_default": "`attachment-keys` in the data directory, made on first use"
        },
    )
    clamd: str | None = Field(
        default=None,
        pattern=r"^(unix:/[^\s]+|tcp:[A-Za-z0-9.:-]+:\d{1,5})$",
        description="the ClamAV daemon every attachment is scanned by before it is kept: "
        "`unix:/run/clamav/clamd.ctl` or `tcp:host:3310`; a file it finds malware in is "
        "refused, and with it unreachable nothing is attached",
        json_schema_extra={"shown_default": "none: attachments are kept unscanned, and say so"},
    )
    paper_size: Literal["letter", "a4"] = Field(
        default="letter", description="the page size of documents and reports printed as PDF"
    )
    smtp_url: str | None = Field(
        default=None,
        pattern=r"^(smtp|smtps|smtp\+starttls)://[^\s]+$",
        description="the agency's mail relay for messages to clients by email: "
        "`smtp://host:25`, `smtp+starttls://user:password@host:587` or `smtps://…:465`",
        json_schema_extra={
            "shown_default": "none: email messages fail, and say so in `casework status`"
        },
    )
    mail_from: str = Field(
        default="casework@localhost",
        pattern=r"^[^\s@]+@[^\s@]+$",
        description="the sender address of messages to clients by email",
    )
    sms_url: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9+]+://[^\s]*\{to\}[^\s]*$",
        description="the SMS provider, as an apprise URL with `{to}` where the client's "
        "number goes (e.g. `twilio://SID:TOKEN@+15550100/{to}`, or `json://host/sms?:to={to}` "
        "for an HTTP gateway): a secret, kept in the environment",
        json_schema_extra={
            "shown_default": "none: text messages fail, and say so in `casework status`"
        },
    )
    sms_reply_token: str | None = Field(
        default=None,
        min_length=16,
        description="the token the SMS provider's reply webhook (`POST /hooks/sms-reply` on "
        "the desk) sends as `Authorization: Bearer …` (or `?token=`)",
        json_schema_extra={"shown_default": "none: the reply hook is closed"},
    )
    message_attempts: int = Field(
        default=4,
        ge=1,
        le=20,
        description="attempts to deliver a message before it is marked failed",
    )
    message_retry_minutes: list[Annotated[float, Field(ge=0, le=1440, allow_inf_nan=False)]] = (
        Field(
            default=[5.0, 30.0, 120.0],
            min_length=1,
            max_length=20,
            description="minutes between a failed delivery and the next attempt, one per "
            "retry (the last repeats) (JSON)",
        )
    )
    desk_idle_minutes: int = Field(
        default=15, ge=1, le=480, description="a desk sign-in with no request this long ends"
    )
    desk_lockout_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        description="wrong passwords in a row that lock a staff member out of the desk",
    )
    desk_lockout_minutes: int = Field(
        default=15, ge=1, le=1440, description="how long a lock-out lasts"
    )
    desk_session_hours: int = Field(
        default=10,
        ge=1,
        le=24,
        description="a desk sign-in ends this long after it began, however busy (sign in again)",
    )
    sso_issuer: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="the agency's OpenID provider (its issuer URL, e.g. "
        "`https://login.microsoftonline.com/TENANT/v2.0`): staff sign in to the desk there, "
        "and the desk's passwords are no longer asked (docs/operators.md, 'Single sign-on')",
        json_schema_extra={"shown_default": "none: desk passwords"},
    )
    sso_client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="the desk's client id at the OpenID provider",
        json_schema_extra={"shown_default": "none"},
    )
    sso_client_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="the desk's client secret at the OpenID provider",
        json_schema_extra={"shown_default": "none"},
    )
    sso_claim: Literal["email", "preferred_username", "upn", "sub"] = Field(
        default="email",
        description="the ID token's claim that names the staff member: matched to a "
        "roster entry's `sso`, else to its staff id",
    )

    @model_validator(mode="after")
    def _heartbeats_fit(self) -> CaseworkSettings:
        if self.lost_run_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"CASEWORK_LOST_RUN_SECONDS ({self.lost_run_seconds}) must be at least twice "
                f"CASEWORK_HEARTBEAT_SECONDS ({self.heartbeat_seconds}): one late heartbeat "
                "would crash a live run"
            )
        return self

    @model_validator(mode="after")
    def _sso_whole(self) -> CaseworkSettings:
        if self.sso_issuer and not (self.sso_client_id and self.sso_client_secret):
            raise ValueError(
                "CASEWORK_SSO_ISSUER is set: CASEWORK_SSO_CLIENT_ID and "
                "CASEWORK_SSO_CLIENT_SECRET must be set too (the desk's registration at the "
                "provider)"
            )
        return self

    @model_validator(mode="after")
    def _write_ahead_in_development_only(self) -> CaseworkSettings:
        if self.write_ahead and not self.dev_mode:
            raise ValueError(
                "CASEWORK_WRITE_AHEAD is for development only: it needs CASEWORK_DEV_MODE=on "
                "(a live caseload is never swept as if next month had come)"
            )
        return self

    @field_validator("prefect_database_url")
    @classmethod
    def _postgresql(cls, value: str | None) -> str | None:
        return None if value is None else prefect_server_database(value)

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        return None if value is None else redis_url(value)

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (e.g. America/New_York)") from None
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        from datetime import time

        try:
            for part in value.split("-"):
                time.fromisoformat(part)
        except ValueError:
            raise ValueError(f"{value!r} is not two times of day (e.g. 21:00-08:00)") from None
        return value

    @property
    def quiet(self) -> tuple[time, time]:
        """The quiet hours' start and end, local times of day."""
        from datetime import time

        start, end = self.quiet_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    @property
    def zone(self) -> ZoneInfo:
        """The agency's time zone."""
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)

    @field_validator("actor")
    @classmethod
    def _staff_id(cls, value: str | None) -> str | None:
        if value is not None and not re.match(STAFF_ID_PATTERN, value):
            raise ValueError("must be a staff id: lowercase letters, digits, '.', '_' or '-'")
        return value

    @property
    def dashboard_address(self) -> str:
        """The dashboard's gate as people reach it (with single sign-on)."""
        if self.dashboard_url:
            return self.dashboard_url.rstrip("/")
        host = f"[{self.desk_host}]" if ":" in self.desk_host else self.desk_host
        return f"http://{host}:{self.dashboard_port}"

    @property
    def desk_address(self) -> str:
        """Where staff open the desk (CASEWORK_DESK_URL, or the host and port it listens on)."""
        if self.desk_url:
            return self.desk_url.rstrip("/")
        host = f"[{self.desk_host}]" if ":" in self.desk_host else self.desk_host
        return f"http://{host}:{self.desk_port}"

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'casework.db'}"

    @property
    def masking_log_path(self) -> Path:
        return self.masking_log or self.data_dir / "masking-log.jsonl"


def redis_url(url: str) -> str:
    """A Redis URL as prefect-redis takes it: redis:// (or rediss://) host, port, database."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        database = (parts.path or "/0").lstrip("/") or "0"
        ok = parts.scheme in ("redis", "rediss") and parts.hostname and database.isdigit()
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{url!r} is not a redis://host:port/db URL")
    return url


def prefect_server_database(url: str) -> str:
    """The Prefect server's connection URL (driver asyncpg) for a PostgreSQL URL."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.split("+")[0] not in {"postgresql", "postgres"} or not rest:
        raise ValueError(f"{url!r} is not a postgresql:// URL")
    return f"postgresql+asyncpg://{rest}"


LOCAL_DATA_DIR = Path(".casework")
DEFAULT_API_URL = "http://127.0.0.1:4200/api"  # where `casework up` serves by default
STACK_FILE = "stack.json"  # in the data directory: where `up` serves (its API URL, pids)
SERVER_LOG = "prefect-server.log"  # in the data directory: the local Prefect server's output
SERVER_STARTING = "casework: starting the Prefect server at"  # marks each start in its log


def prefect_env(
    data_dir: Path, api_url: str, poll_seconds: float, heartbeat_seconds: int = 30
) -> dict[str, str]:
    """Environment shared by the CLI, the worker and every flow-run process it forks. Here,
    not with `up`: every command sets it, and `up`'s module costs asyncio to import. A flow
    run anywhere (a sweep run in the CLI's own process too) sends its heartbeat often enough
    for the lost-run automation (Prefect's default, 180 s, is longer than its wait), and no
    flow persists a result (nothing a resume needs is one: see flows/case_lifecycle.py)."""
    return {
        "CASEWORK_DATA_DIR": str(data_dir),
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(data_dir / "prefect"),
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(heartbeat_seconds),
        "PREFECT_LOCAL_STORAGE_PATH": str(data_dir / "prefect" / "storage"),
        "PREFECT_WORKER_QUERY_SECONDS": str(poll_seconds),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def prefect_server_env() -> dict[str, str]:
    """What Casework sets on the Prefect server `casework up` starts (an operator's own
    value of each wins), and what docs/operators.md asks of a shared server:

    * no scan of paused runs: Prefect's pause-expiration service reads every paused run
      every 5 s to fail those past a pause timeout, and a case run waits with none (30% of
      a core at 20,000 waiting cases; bench/prefect_db.py);
    * the logs and artifacts of deleted runs removed (the `orphans` vacuum, daily), beside
      the events' own retention (Prefect's default, 7 days). Flow runs themselves are
      deleted by Casework's `prefect-retention` flow, which keeps every open case's run:
      Prefect's own run vacuum cannot tell an open case's crashed run from history.
    """
    return {
        "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,orphans",
    }


CREDENTIAL_FILE = "prefect-credential"  # in the data directory, 0600: the Prefect API's
CREDENTIAL_USER = "casework"  # the sign-in's user part, as Prefect's login form asks for one


def prefect_credential(data_dir: Path, *, create: bool) -> str | None:
    """The credential the data directory's own Prefect server is run with ("casework:<random>",
    the string Prefect's PREFECT_SERVER_API_AUTH_STRING / PREFECT_API_AUTH_STRING take and its
    login page asks for). `create`: made on first start, readable by its owner only."""
    path = data_dir / CREDENTIAL_FILE
    if create and not path.exists():
        value = f"{CREDENTIAL_USER}:{secrets.token_urlsafe(32)}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another start made it a moment ago: use that one
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(value + "\n")
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def prefect_auth_headers() -> dict[str, str]:
    """The Authorization header Prefect's own clients send, for our direct calls to its API."""
    if credential := os.environ.get("PREFECT_API_AUTH_STRING"):
        return {"Authorization": "Basic " + base64.b64encode(credential.encode()).decode()}
    return {}


def default_data_dir() -> Path:
    """CASEWORK_DATA_DIR if set; else `.casework/` in the current directory if one is
    there (a project-local store); else the user's own data directory (on Linux
    ~/.local/share/casework), the same from any directory."""
    if given := os.environ.get("CASEWORK_DATA_DIR"):
        return Path(given)
    if LOCAL_DATA_DIR.is_dir():
        return LOCAL_DATA_DIR
    from platformdirs import user_data_path

    return user_data_path("casework", appauthor=False)


def default_actor() -> str:
    """`submitted_by` in an example form: CASEWORK_ACTOR, else a staff id made from the
    login (no store is opened: `casework form` needs none; `submit` checks who you are)."""
    return get_settings().actor or login_as_staff_id()


def login_as_staff_id() -> str:
    name = re.sub(r"[^a-z0-9._-]", "", getpass.getuser().lower()) or "operator"
    return name if name[0].isalpha() else f"u{name}"


@lru_cache(maxsize=1)
def get_settings() -> CaseworkSettings:
    """Settings for this process; a bad variable stops us with its name in the message."""
    try:
        return CaseworkSettings(**_from_environment())
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # a rule between two variables names both itself
            raise SettingsError(str(first["msg"]).removeprefix("Value error, ")) from None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{PREFIX}{str(first['loc'][0]).upper()}: {message}") from None


def _from_environment() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in CaseworkSettings.model_fields.items():
        raw = os.environ.get(PREFIX + name.upper())
        if raw is None:
            continue
        if get_origin(field.annotation) is list:
            try:
                values[name] = json.loads(raw)
            except ValueError:
                raise SettingsError(
                    f"{PREFIX}{name.upper()}: must be JSON (for example [2, 10, 30])"
                ) from None
        else:
            values[name] = raw
    return values


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "unset"
    if isinstance(value, list):
        return "`" + json.dumps(value) + "`"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"`{value}`" if isinstance(value, str) else str(value)


def configuration_reference() -> str:
    """docs/configuration.md, made from the settings' own fields (a test keeps them equal)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in CaseworkSettings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        default = extra.get("shown_default") or _shown(field.default)
        rows.append(f"| `{PREFIX}{name.upper()}` | {default} | {field.description} |")
    return (
        "# Configuration\n\n"
        "Casework reads its settings from the environment, each as `CASEWORK_<NAME>` (a "
        "list as JSON; `on`/`off` for a switch). A bad value stops the command with the "
        "variable's name in the message, before anything is done. This page is made from "
        "the settings themselves (`python -m casework.core.settings > "
        "docs/configuration.md`), and a test keeps it so.\n\n"
        + "\n".join(rows)
        + "\n\n`PREFECT_API_URL`, if set, points every command and `casework up` at an "
        "existing Prefect server instead of the one `up` starts; `PREFECT_API_AUTH_STRING` "
        "is that server's credential (see [A shared server](operators.md#a-shared-server)).\n"
    )


if __name__ == "__main__":
    print(configuration_reference(), end="")
