"""The ownership admin: the record list with its change-owner action and ownership history
(records), the outbox entries (outbox), the transfer jobs and their live job page (transfers), the
batch page and its revert (batches), offboarding (offboarding); urls holds the pages that are not
a model's."""

from . import notifications, outbox, records, transfers  # noqa: F401  (register the model admins)
