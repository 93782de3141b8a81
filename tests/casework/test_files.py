"""Nothing lost, nothing leaked on disk: documents never overwrite one another or the
store, `--out`/`--html` refuse an existing file without `--force`, the data directory is
its owner's alone whatever the umask, and partner tokens are not in the case store."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from casework.core.db import check_schema, migrate, session_scope
from casework.core.settings import get_settings
from casework.models.orm import Document
from casework.services.documents import produce
from tests import factories
from tests.casework.test_cli import run_cli
from tests.conftest import unconfigured_env
from tests.on_disk import bytes_on_disk

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


@pytest.fixture
def case_with_notes() -> str:
    with session_scope() as session:
        case = factories.new_case(session)
        return case.case_number or ""


def test_concurrent_documents_each_get_their_own_file(case_with_notes: str) -> None:
    today = date.today()

    def render(_: int) -> Path:
        return produce(case_with_notes, "notes", "md", "cm.a", period=(today, today)).path

    with ThreadPoolExecutor(5) as pool:
        paths = list(pool.map(render, range(5)))
    assert len(set(paths)) == 5, "five documents, five files"
    with session_scope() as session:
        rows = session.scalars(select(Document).where(Document.path.in_([str(p) for p in paths])))
        for row in rows:
            assert hashlib.sha256(Path(row.path).read_bytes()).hexdigest() == row.sha256
            assert Path(row.path).stat().st_mode & 0o777 == 0o600


def test_out_never_replaces_the_store_or_an_existing_file(capsys, case_with_notes, tmp_path):
    store = Path(get_settings().store_url.split("///", 1)[1])
    size = store.stat().st_size
    today = str(date.today())
    notes = [case_with_notes, "notes", "--from", today, "--to", today]
    for target, expected in (
        (store, "is inside Casework's data"),
        (get_settings().data_dir / "anything.md", "is inside Casework's data"),
    ):
        code, _, err = run_cli(capsys, "doc", *notes, "--out", str(target), "--force")
        assert code == 1
        assert expected in err
        assert err.count("\n") == 1
    assert store.stat().st_size == size
    check_schema()  # the store is still a store

    mine = tmp_path / "mine.md"
    mine.write_text("my own file\n")
    code, _, err = run_cli(capsys, "doc", *notes, "--out", str(mine))
    assert code == 1
    assert f"--out: {mine} already exists; give --force to replace" in err
    assert mine.read_text() == "my own file\n"
    code, _, _ = run_cli(capsys, "doc", *notes, "--out", str(mine), "--force")
    assert code == 0
    assert "Progress notes" in mine.read_text()

    code, _, err = run_cli(capsys, "report", "--html", str(mine))
    assert code == 1
    assert "--html:" in err
    assert "already exists" in err
    code, _, err = run_cli(capsys, "doc", *notes, "--out", "/proc/nope/x.md")
    assert code == 1
    assert "--out: cannot write /proc/nope/x.md" in err


def test_force_replaces_only_a_regular_file(capsys, case_with_notes, tmp_path) -> None:
    """`--out /dev/full --force` as root once replaced the device with a file: a device, a
    pipe or a link to one is refused by name and stays what it was (tried on a pipe here)."""
    today = str(date.today())
    notes = [case_with_notes, "notes", "--from", today, "--to", today]
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    link = tmp_path / "link.md"
    link.symlink_to(pipe)
    for target in (pipe, link):
        code, _, err = run_cli(capsys, "doc", *notes, "--out", str(target), "--force")
        assert (code, err) == (
            1,
            f"casework: error: --out: {pipe} is not a regular file; name a file\n",
        )
        assert stat.S_ISFIFO(pipe.lstat().st_mode)
        assert link.is_symlink()


SCRIPT = """
import json, os, sys
from pathlib import Path
os.umask(0o022)  # the usual umask: files 0644, folders 0755 unless Casework says otherwise
from casework.cli import main
data = Path(sys.argv[1])
hsds = Path(sys.argv[2])
for argv in (["migrate"], ["providers", "import", str(hsds)]):
    try:
        main([*argv, "--data-dir", str(data)])
    except SystemExit as exc:
        assert exc.code == 0, (argv, exc.code)
os.environ["CASEWORK_DATA_DIR"] = str(data)
from casework.core.db import session_scope
from casework.models.codes import Stage
from tests import factories
with session_scope() as session:
    case = factories.walk_to(session, factories.new_case(session), Stage.REFERRAL, factories.now())
    print(case.case_number)
"""
# A later command in a process of its own, under the usual umask: a document's folders too
# are its owner's alone (they were once 0755, and `up` then refused the data directory).
DOC = """
import os, sys
os.umask(0o022)
from casework.cli import main
main(["doc", sys.argv[2], "plan", "--data-dir", sys.argv[1]])
"""


def test_the_data_directory_is_private_and_tokens_stay_out_of_the_store(tmp_path) -> None:
    from casework import examples

    hsds = Path(examples.__file__).parent / "providers.hsds.json"
    tokens = {s["x-casework"]["token"] for s in json.loads(hsds.read_text())["services"]}
    data = tmp_path / "fresh"
    env = unconfigured_env()
    env["CASEWORK_STAFF_FILE"] = os.environ["CASEWORK_STAFF_FILE"]  # the tests' staff too
    made = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(data), str(hsds)],
        check=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        capture_output=True,
        text=True,
    )
    case_number = made.stdout.split()[-1]
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DOC), str(data), case_number],
        check=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert list(data.glob(f"documents/{case_number}/plan-*.md"))
    everything = [data, *data.rglob("*")]
    assert len(everything) > 3
    for path in everything:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is open to others"
    store = bytes_on_disk(data / "casework.db", *data.glob("casework.db-*"))
    for token in tokens:
        assert token.encode() not in store, "a partner token is in the case store"
    assert set(json.loads((data / "partner-tokens.json").read_text()).values()) == tokens


def test_up_refuses_a_data_directory_others_can_read(tmp_path) -> None:
    data = tmp_path / "open"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = unconfigured_env()
    done = subprocess.run(
        [sys.executable, "-m", "casework", "up", "--data-dir", str(data), "--port", str(port)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"chmod -R go-rwx {data}" in done.stderr
    assert not (data / "prefect-server.log").exists(), "refused before starting anything"
