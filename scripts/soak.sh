#!/bin/sh
# The long soak (issue 12, item 5; docs/operations.md, "Soak"): ten minutes of mixed traffic while the
# worker is SIGKILLed every minute, the broker (a Redis of the test's own) is killed and started again
# empty, and the SMTP server is down for two minutes; then it prints its counts (lost, doubled,
# delivered) and fails unless every one is as it must be. The suite runs the same test for two minutes.
#
#   scripts/soak.sh                  # 600 s of traffic
#   SOAK_SECONDS=1800 scripts/soak.sh
#
# Needs what the service-backed tests need: DATABASE_URL (PostgreSQL), REDIS_URL and CELERY_KEY_PREFIX.
set -eu
cd "$(dirname "$0")/.."
SOAK_SECONDS="${SOAK_SECONDS:-600}" exec .venv/bin/python -m pytest tests/soak -p no:cacheprovider -q -s \
    -o log_cli=false "$@"
