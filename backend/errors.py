"""The one error type the backend raises for problems a person can fix.

Its message says what was wrong, with which file, and what to do. The CLI prints
it on one line and exits non-zero; the Blender add-on shows it as a report.
Anything else that escapes is a bug and keeps its traceback.
"""


class BackendError(Exception):
    """A user-facing failure: bad input, missing data, wrong version."""
