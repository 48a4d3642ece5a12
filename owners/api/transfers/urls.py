"""The fixed-name /bigin/v2 routes of the transfer jobs. Included before the module router
(config/api_router.py), so `users` and `owner_batches` are never taken for a module; the
module-scoped `mass_change_owner` action is on the router."""

from __future__ import annotations

from django.urls import path

from . import views as transfers

urlpatterns = [
    path(
        "users/actions/transfer_and_delete",
        transfers.TransferAndDeleteView.as_view(),
        name="bigin-transfer-and-delete",
    ),
    path(
        "users/<str:user_id>/actions/transfer_and_delete",
        transfers.UserTransferAndDeleteView.as_view(),
        name="bigin-user-transfer-and-delete",
    ),
    path("owner_batches/<str:batch_id>", transfers.OwnerBatchView.as_view(), name="owner-batch"),
    path(
        "owner_batches/<str:batch_id>/actions/revert",
        transfers.OwnerBatchRevertView.as_view(),
        name="owner-batch-revert",
    ),
]
