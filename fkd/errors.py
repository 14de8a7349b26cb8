"""The one base class for problems a user can fix.

Every error fkd raises about the user's input, files or setup derives from
:class:`FkdError`, so the command line can print any of them as one line,
``fkd: error: ...``, with exit status 1 -- and let anything else (a bug) show its
traceback. Each module defines its own subclasses where the problem arises
(:class:`fkd.data.DataError`, :class:`fkd.report.ReportError`, ...).
"""

from __future__ import annotations


class FkdError(Exception):
    """A problem the user can fix; its message says what is wrong and what to do."""
