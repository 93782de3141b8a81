"""Casework: the case-lifecycle system. This package holds the operator-facing parts
(settings, database wiring, the command line and the local stack); the lifecycle lives
in `flows/`, `tasks/` and `models/`."""
