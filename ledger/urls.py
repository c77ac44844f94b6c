from __future__ import annotations

from django.urls import path

from ledger import views

app_name = "ledger"

urlpatterns = [
    path("v1/get-sth", views.get_sth, name="get_sth"),
    path("v1/get-sth-consistency", views.get_sth_consistency, name="get_sth_consistency"),
    path("v1/get-proof-by-hash", views.get_proof_by_hash, name="get_proof_by_hash"),
    path("v1/get-entries", views.get_entries, name="get_entries"),
    path("checkpoint", views.checkpoint, name="checkpoint"),
    path("checkpoints/<int:size>", views.checkpoint_of_size, name="checkpoint_of_size"),
    path("public-keys.json", views.public_keys, name="public_keys"),
    path("regulator/export", views.regulator_export, name="regulator_export"),
]
