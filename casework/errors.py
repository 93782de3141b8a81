"""The errors a user can cause or fix; the CLI prints them as one line and exits 1."""

from __future__ import annotations


def user_errors() -> tuple[type[Exception], ...]:
    # Imported late: these modules import Prefect, which must see the CLI's environment first.
    from casework.db import StoreNotReady
    from casework.operations import InputError
    from casework.orchestration import OrchestratorUnavailable, SubmissionRefused
    from casework.settings import SettingsError
    from casework.stack import StackError
    from models.cases import CaseError
    from models.lifecycle import TransitionNotAllowed
    from models.programs import ProgramError
    from models.rules import AsOfOutOfRange

    return (
        InputError,
        OrchestratorUnavailable,
        SubmissionRefused,
        StackError,
        CaseError,
        TransitionNotAllowed,
        SettingsError,
        ProgramError,
        StoreNotReady,
        AsOfOutOfRange,
    )
