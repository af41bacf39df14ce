"""The project's one exception family (no torch, no import-time work).

* :class:`ParameterError` (a ``ValueError``): a user-facing parameter has a value outside its
  allowed set; the message names the parameter, the value given and what is allowed.
* :class:`FlowDivergedError` (a ``RuntimeError``): a flow blew up; the message names the step,
  what blew up and the usual cure.
* :class:`DataUnavailableError` (a ``FileNotFoundError``): a data file is missing (and could not
  be fetched) or fails its checksum.

They are re-exported where they were first defined (``wgf_core.validation``,
``wgf_core.diagnostics``, ``wgf_core.data``), so either import works.
"""

from __future__ import annotations

__all__ = ["ParameterError", "FlowDivergedError", "DataUnavailableError"]


class ParameterError(ValueError):
    """A user-facing parameter has a value outside its allowed set."""


class FlowDivergedError(RuntimeError):
    """A flow produced a non-finite value or blew up; the message names the step."""


class DataUnavailableError(FileNotFoundError):
    """A data file is missing (and could not be fetched) or fails its checksum."""
