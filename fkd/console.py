"""What fkd's commands print: their own lines and progress bars, and nothing of TensorFlow's start-up.

TensorFlow writes start-up lines (CUDA probes, oneDNN notices) from C++ through
absl *before* its logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` does not
reach them. They cannot be silenced from Python once written, so they are kept
from being written to the terminal at all:

* in fkd's own process, :func:`import_tensorflow` imports TensorFlow with the
  process's native stderr pointed at a temporary file (shown only if the import
  fails, so a real error still surfaces);
* in a notebook kernel, :func:`kernel_log_manager` starts the kernel with its
  stdout and stderr going to a log file beside the report (they also carry the
  kernel's "running over TCP without encryption" notice), while everything a cell
  prints is still captured into the notebook.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any


@contextlib.contextmanager
def native_stderr_to_file() -> Iterator[IO[bytes]]:
    """Point file descriptor 2 (what C++ code writes to) at a temporary file for the block.

    Yields the file; it is replayed onto the real stderr if the block fails (not when the user interrupts
    it: an interrupt during TensorFlow's import should end in fkd's one line, not in TensorFlow's start-up lines).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield captured
        except Exception:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow() -> Any:
    """``import tensorflow`` without its C++ start-up lines; returns the module.

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` (unless the user chose a level), which quiets
    the lines TensorFlow logs once its logging is up.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with native_stderr_to_file():
        import tensorflow

        tensorflow.constant(0) + 0  # the first op probes devices (CUDA): keep that quiet too
    return tensorflow


def kernel_log_manager(log: IO[Any]) -> type:
    """A Jupyter kernel manager class whose kernels write their stdout and stderr to ``log``.

    Pass it to papermill as ``kernel_manager_class``. What cells print is sent to the
    notebook over Jupyter's messages, not through these streams, so nothing a
    reader needs is lost; the log keeps TensorFlow's native start-up lines and the
    kernel's own notices for whoever debugs a failure.
    """
    from jupyter_client.manager import AsyncKernelManager

    class LoggingKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kw.update(stdout=log, stderr=log)
            env = dict(kw.get("env") or os.environ)
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
            kw["env"] = env
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    return LoggingKernelManager
