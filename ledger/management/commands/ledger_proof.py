from __future__ import annotations

import base64
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger import selectors


class Command(BaseCommand):
    help = (
        "Print a proof as JSON: `inclusion EVENT_UUID_OR_LEAF_INDEX [--tree-size N]` or "
        "`consistency FIRST SECOND` (the same answers as /ledger/v1/)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="kind", required=True)
        inclusion = sub.add_parser("inclusion")
        inclusion.add_argument("entry", help="an event id (UUID) or a leaf index")
        inclusion.add_argument("--tree-size", type=int, default=None)
        consistency = sub.add_parser("consistency")
        consistency.add_argument("first", type=int)
        consistency.add_argument("second", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        def b64(value: bytes) -> str:
            return base64.b64encode(value).decode()

        try:
            if options["kind"] == "consistency":
                proof = selectors.consistency(options["first"], options["second"])
                out: dict[str, Any] = {"first": options["first"], "second": options["second"]}
                out["consistency"] = [b64(h) for h in proof]
            else:
                index = selectors.leaf_index_of(options["entry"])
                size = options["tree_size"] or selectors.current_size()
                found = selectors.inclusion_proofs([index], size)[0]
                out = {
                    "leaf_index": found.leaf_index,
                    "tree_size": size,
                    "leaf_hash": b64(found.leaf_hash),
                    "audit_path": [b64(h) for h in found.path],
                }
        except selectors.NotInLog as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(out, indent=2))
