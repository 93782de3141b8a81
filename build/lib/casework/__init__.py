"""Casework: the case-lifecycle system. This package holds the operator-facing parts
(settings, database wiring, the command line and the local stack); the lifecycle lives
in `flows/`, `tasks/` and `models/`."""


def casework_version() -> str:
    """The installed release (`casework --version`, backups' manifests)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("casework")
    except PackageNotFoundError:  # run from a tree that was never installed
        return "unknown"
