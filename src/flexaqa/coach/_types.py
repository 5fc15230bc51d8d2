"""The coach's errors and their exit codes (its pose types live in :mod:`flexaqa.pose_rules.sequence`)."""

from __future__ import annotations

from flexaqa.errors import EXIT_INPUT, FlexaqaError, MissingFileError

# Exit codes of `flexaqa coach` (documented in docs/coach.md). 2 is argparse's and flexaqa's usage error.
EXIT_OK = 0
EXIT_USAGE = 2  # unknown action, bad option
EXIT_BAD_VIDEO = 3  # unreadable or empty video
EXIT_NO_PERSON = 4  # nobody found in (almost) any frame
EXIT_SEVERAL_PEOPLE = 5  # the tracked body jumps between people
EXIT_PERSON_LOST = 6  # the person is out of frame for most of the video
EXIT_NO_REPETITION = 7  # too short, or no complete repetition found
EXIT_MISSING_PIECE = 8  # an optional dependency or a project module the coach needs is missing


class CoachError(FlexaqaError, ValueError):
    """The coach cannot go on. ``code`` is the process exit code; ``report`` (when set) is the partial report
    that says what could and could not be done."""

    exit_code = 3  # bad input (a broken rules file, run folder or report); subclasses say more
    problem = "error"

    @property
    def code(self) -> int:
        """The process exit code (the same as ``exit_code``; kept for callers of the first release)."""
        return self.exit_code

    def __init__(self, message: str, *, report: dict | None = None):
        super().__init__(message)
        self.report = report


class BadVideoError(CoachError):
    exit_code, problem = EXIT_BAD_VIDEO, "bad_video"


class MissingVideoError(MissingFileError, BadVideoError):
    exit_code = EXIT_INPUT  # the report's problem stays "bad_video"


class NoPersonError(CoachError):
    exit_code, problem = EXIT_NO_PERSON, "no_person"


class SeveralPeopleError(CoachError):
    exit_code, problem = EXIT_SEVERAL_PEOPLE, "several_people"


class PersonLostError(CoachError):
    exit_code, problem = EXIT_PERSON_LOST, "person_lost"


class NoRepetitionError(CoachError):
    exit_code, problem = EXIT_NO_REPETITION, "no_repetition"


class MissingPieceError(CoachError):
    exit_code, problem = EXIT_MISSING_PIECE, "missing_piece"
