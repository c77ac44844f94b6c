"""Drill: rotating the master key as docs/operations.md says (new key first, `vault_rewrap`, old key
removed) leaves every sealed value of a real service readable and nothing wrapped under the old key."""

from __future__ import annotations

import base64
from io import StringIO
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command

from identity.selectors import headshot_probe_image
from identity.services import headshot_probe_store
from notifications.models import Message
from notifications.selectors import message_content
from removal import services
from removal.models import RemovalRequest
from removal.selectors import removal_request_pii
from vault.models import DataKey
from vault.services import reset_key_caches

pytestmark = pytest.mark.django_db
OLD = "mk-old:" + base64.b64encode(b"O" * 32).decode()
NEW = "mk-new:" + base64.b64encode(b"N" * 32).decode()


@pytest.fixture
def master_keys(settings: Any) -> Any:
    def use(spec: str) -> None:
        settings.VAULT_MASTER_KEYS = spec
        reset_key_caches()

    yield use
    reset_key_caches()


def _everything_readable(requests: list[RemovalRequest]) -> dict[str, object]:
    """Open every sealed value the drill made: the requests' personal data, every e-mail, the headshot."""
    readable: dict[str, object] = {}
    for request in requests:
        request.refresh_from_db()
        readable[f"pii {request.reference}"] = removal_request_pii(request=request).email
        readable[f"headshot {request.reference}"] = headshot_probe_image(
            subject_ref=services.subject_ref(request)
        )
    for message in Message.objects.order_by("created_at"):
        readable[f"message {message.id}"] = message_content(message=message).subject
    return readable


def test_rotating_the_master_key_leaves_everything_readable_and_nothing_under_the_old_key(
    master_keys: Any, make_request: Any
) -> None:
    master_keys(OLD)
    requests = [make_request(email=f"drill{n}@example.org").request for n in range(3)]
    for request in requests:
        headshot_probe_store(
            subject_ref=services.subject_ref(request),
            data_key=request.data_key,
            jpeg=b"\xff\xd8\xff stands for the sealed headshot",
            embedding=np.zeros(128),
        )
    before = _everything_readable(requests)
    assert all(before.values()) and set(DataKey.objects.values_list("master_key_id", flat=True)) == {"mk-old"}

    master_keys(f"{NEW},{OLD}")  # 1. the new key first, the old one still known
    out = StringIO()
    call_command("vault_rewrap", stdout=out)  # 2. re-wrap
    assert out.getvalue() == f"re-wrapped {DataKey.objects.count()} data key(s)\n"
    master_keys(NEW)  # 3. the old key removed

    assert _everything_readable(requests) == before
    assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {"mk-new"}
    out = StringIO()
    call_command("vault_rewrap", stdout=out)
    assert out.getvalue() == "re-wrapped 0 data key(s)\n"  # nothing was left under the old key
