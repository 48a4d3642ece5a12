"""The ownership admin: the record list with its change-owner action and ownership history
(records), the outbox jobs (outbox), the batch page (batches, urls)."""

from . import outbox, records  # noqa: F401  (register the Record and OwnerJob admins)
