"""The yardstick for bench/lifecycle.py: a served flow run with one trivial task."""

from prefect import flow, task


@task
def noop() -> int:
    return 1


@flow(name="bench-trivial")
def trivial() -> int:
    return noop()
