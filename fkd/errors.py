"""The one base class for problems a user can fix.

Every error fkd raises about the user's input, files or setup derives from
:class:`FkdError`, so the command line can print any of them as one line,
``fkd: error: ...``, with exit status 1 -- and let anything else (a bug) show its
traceback. A notebook shows them the same way (see :meth:`FkdError._render_traceback_`).
Each module defines its own subclasses where the problem arises
(:class:`fkd.data.DataError`, :class:`fkd.report.ReportError`, ...).
"""

from __future__ import annotations


class FkdError(Exception):
    """A problem the user can fix; its message says what is wrong and what to do."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows in a notebook instead of the traceback: the command line's one line.

        The frames inside fkd would only hide the message from a student who ran a cell
        with a bad value; the message says what to change.
        """
        return [f"fkd: error: {self}"]
