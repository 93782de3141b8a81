"""`casework prefect-server --api-servers N`: one Prefect server scaled out on this host,
as Prefect's guide "How to scale self-hosted Prefect" lays it out:

* its database on PostgreSQL, migrated once before anything starts
  (`PREFECT_API_DATABASE_MIGRATE_ON_START=false` for every process after);
* Redis for messaging, the message cache, causal event ordering, concurrency lease storage
  and the background services' docket (prefect-redis): `--redis-url`, else Debian's
  `redis-server` started here on loopback, with nothing written to disk;
* the background services (scheduler, automations' triggers, late runs, vacuum) in one
  process of their own: `prefect server services start`;
* N API servers, each `prefect server start --no-services` on a loopback port of its own;
* HAProxy (Debian's) in front, on the one port clients are given: each connection goes to
  an API server whose `/api/health` answered (checked every 2 s); a connection refused by
  a dead one is sent to another.

An API server or the services process that exits is started again (its port kept); the
others answer meanwhile. Casework's own settings for the server (`prefect_server_env`) and
the data directory's credential apply to every process. Runs until Ctrl-C or SIGTERM,
then stops everything it started, the load balancer first. Every process is tied to this
one: none outlives it. Output of each goes to `prefect-cluster/<name>.log` in the data
directory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from casework.core.errors import StackError
from casework.core.settings import prefect_credential, prefect_server_env
from casework.stack import api_is_healthy, port_is_free, say, stop_server, tied

CLUSTER_DIR = "prefect-cluster"  # in the data directory: configuration and logs
HEALTH_SECONDS = 2


@dataclass
class Part:
    """One process of the cluster, and how to start it again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def gone(self) -> int | None:
        return None if self.process is None else self.process.poll()


@dataclass
class Cluster:
    data_dir: Path
    port: int
    database: str  # postgresql+asyncpg://…
    api_servers: int
    redis_url: str | None
    parts: list[Part] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.data_dir / CLUSTER_DIR

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def environment(self, redis_url: str) -> dict[str, str]:
        redis = urlsplit(redis_url)
        db = (redis.path or "/0").lstrip("/") or "0"
        env = {**prefect_server_env(), **os.environ}  # an operator's own setting wins
        env.pop("PREFECT_API_URL", None)
        env.update(
            {
                "PREFECT_HOME": str(self.data_dir / "prefect"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_API_AUTH_STRING": str(
                    prefect_credential(self.data_dir, create=True)
                ),
                "PREFECT_API_DATABASE_CONNECTION_URL": self.database,
                "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
                "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
                "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
                "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
                "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
                "PREFECT_REDIS_MESSAGING_HOST": redis.hostname or "127.0.0.1",
                "PREFECT_REDIS_MESSAGING_PORT": str(redis.port or 6379),
                "PREFECT_REDIS_MESSAGING_DB": db,
                # The docket on a database of its own, beside the messages.
                "PREFECT_SERVER_DOCKET_URL": redis._replace(path=f"/{int(db) + 1}").geturl(),
            }
        )
        if redis.password:
            env["PREFECT_REDIS_MESSAGING_PASSWORD"] = redis.password
        if redis.username:
            env["PREFECT_REDIS_MESSAGING_USERNAME"] = redis.username
        return env

    def part(self, name: str, argv: list[str], env: dict[str, str]) -> Part:
        found = Part(name, tied(argv), env, self.home / f"{name}.log")
        self.parts.append(found)
        found.start()
        return found

    def start(self) -> None:
        if not port_is_free(self.port):
            raise StackError(f"127.0.0.1:{self.port} is already in use; choose another port")
        haproxy = shutil.which("haproxy")
        if haproxy is None:
            raise StackError(
                "haproxy not found: the API servers need a load balancer in front "
                "(Debian: apt-get install haproxy)"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        redis_url = self.redis_url or self.start_redis()
        env = self.environment(redis_url)
        say(f"casework: migrating the Prefect database ({urlsplit(self.database).path[1:]})")
        migrated = subprocess.run(
            [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if migrated.returncode:
            last = (migrated.stderr or migrated.stdout).strip().splitlines()[-1:]
            raise StackError(f"migrating the Prefect database failed: {' '.join(last)}")
        self.part("services", [sys.executable, "-m", "prefect", "server", "services", "start"], env)
        ports = [_free_port() for _ in range(self.api_servers)]
        # One after another: an API server registers Prefect's block types as it starts,
        # and two at once on a new database collide on them.
        for number, port in enumerate(ports, 1):
            self.part(
                f"api-{number}",
                [sys.executable, "-m", "prefect", "server", "start", "--no-services"]
                + ["--host", "127.0.0.1", "--port", str(port)],
                env,
            )
            self.wait_healthy(f"http://127.0.0.1:{port}/api", f"api-{number}")
        config = self.home / "haproxy.cfg"
        config.write_text(haproxy_config(self.port, ports))
        self.part("haproxy", [haproxy, "-db", "-f", str(config)], env)
        self.wait_healthy(self.api_url, "haproxy")

    def start_redis(self) -> str:
        server = shutil.which("redis-server")
        if server is None:
            raise StackError(
                "redis-server not found: give the Redis to use with --redis-url (or "
                "CASEWORK_REDIS_URL), or install it here (Debian: apt-get install redis-server)"
            )
        port = _free_port()
        argv = [server, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.home)]
        part = self.part("redis", argv, dict(os.environ))
        deadline = time.monotonic() + 30
        while port_is_free(port):  # nothing answers on it yet
            if part.gone() is not None or time.monotonic() > deadline:
                raise StackError(f"redis-server did not start; see {part.log}")
            time.sleep(0.2)
        return f"redis://127.0.0.1:{port}/0"

    def wait_healthy(self, url: str, name: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not api_is_healthy(url):
            part = next((p for p in self.parts if p.name == name), None)
            if part is not None and part.gone() is not None:
                raise StackError(f"{name} exited; see {part.log}")
            if time.monotonic() > deadline:
                raise StackError(f"{name} not healthy after {timeout:.0f} s")
            time.sleep(0.5)

    def keep_up(self) -> None:
        """Start again an API server or the services process that exited; stop if Redis or
        the load balancer did (nothing reaches the servers without them)."""
        while True:
            time.sleep(1)
            for part in self.parts:
                code = part.gone()
                if code is None:
                    continue
                if part.name in ("redis", "haproxy"):
                    raise StackError(f"{part.name} exited ({code}); see {part.log}")
                part.restarts += 1
                say(f"casework: {part.name} exited ({code}); starting it again")
                part.start()

    def stop(self) -> None:
        for part in reversed(self.parts):  # the load balancer first, Redis last
            if part.process is not None:
                stop_server(part.process)


def haproxy_config(port: int, api_ports: list[int]) -> str:
    """TCP through (the API's websockets too), each connection to a healthy API server."""
    servers = "\n".join(
        f"    server api-{n} 127.0.0.1:{p} check inter {HEALTH_SECONDS}s fall 1 rise 1"
        for n, p in enumerate(api_ports, 1)
    )
    return f"""# Written by `casework prefect-server`; written again at each start.
global
    maxconn 4096

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    retries 3
    option redispatch

frontend prefect
    bind 127.0.0.1:{port}
    default_backend api

backend api
    balance leastconn
    option httpchk GET /api/health
    http-check expect status 200
{servers}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(data_dir: Path, port: int, database: str, api_servers: int, redis_url: str | None) -> int:
    cluster = Cluster(data_dir, port, database, api_servers, redis_url)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        cluster.start()
        pids = ", ".join(f"{p.name} {p.pid}" for p in cluster.parts)
        say(
            f"Prefect server at {cluster.api_url}: {api_servers} API server(s) behind HAProxy, "
            f"the background services in their own process, Redis for messaging ({pids}).\n"
            f"Point every machine at it: PREFECT_API_URL={cluster.api_url} and "
            "PREFECT_API_AUTH_STRING (the data directory's prefect-credential). Ctrl-C stops it."
        )
        cluster.keep_up()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    say("casework: Prefect server stopped.")
    return 0
