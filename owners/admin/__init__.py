"""The ownership admin: the record list with its change-owner action and ownership history."""

from . import records  # noqa: F401  (registers the Record admin)
