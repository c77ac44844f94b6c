"""Does the intake's answer time tell a new address from one with an open request?

Run from the project root (PostgreSQL at 127.0.0.1:5432, trust auth, user `postgres`):

    .venv/bin/python bench/intake_timing.py               # 300 pairs
    .venv/bin/python bench/intake_timing.py --pairs 100

Same server as bench/intake.py (gunicorn with its settings, a throwaway database, dropped after). One
client, one request at a time, as an outsider probing an address would: first `--known` submissions
make open requests, then `--pairs` times a new address and a known one, alternately, in two rounds.
Round 1 waits `--gap` seconds before each probe and prints each kind's answer time (p50, p90, mean) and
the ratio of the medians (1.00 = indistinguishable). Round 2 sends back to back and prints the time of
the answer that *follows* each kind: the work after an answer runs in the same web worker, so a probe
sent right after could see it (printed so it is watched, not hidden).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bench._support import HOST, install_stop_handlers, manage, percentile, throwaway_database  # noqa: E402
from bench.intake import INTAKE_PATH, Config, Gunicorn, server_env  # noqa: E402


def _post(port: int, email: str) -> float:
    body = json.dumps({"name": "Timing Probe", "email": email, "right": "erasure", "jurisdictions": ["EU"]})
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        began = time.perf_counter()
        conn.request("POST", INTAKE_PATH, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        took = time.perf_counter() - began
    finally:
        conn.close()
    if response.status != 202:
        raise SystemExit(f"unexpected answer {response.status}")
    return took


def _line(label: str, values: list[float]) -> str:
    ordered = sorted(values)
    p50, p90 = (1000 * percentile(ordered, p) for p in (50, 90))
    mean = 1000 * sum(ordered) / len(ordered)
    return f"{label:<28}: p50 {p50:6.1f} ms  p90 {p90:6.1f} ms  mean {mean:6.1f} ms  ({len(ordered)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--known", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.1, help="seconds before each probe of round 1")
    args = parser.parse_args(argv)
    install_stop_handlers()
    config = Config(requests=args.pairs, clients=1, workers=2, threads=1, warmup=0, timeout=600)
    run_id = str(os.getpid())
    var_dir = Path(tempfile.mkdtemp(prefix="removal-bench-"))
    (var_dir / "static").mkdir()
    try:
        with throwaway_database(f"removal_bench_{run_id}") as database_url:
            env = server_env(database_url=database_url, var_dir=var_dir)
            manage(["migrate", "--noinput"], env=env, timeout=300)
            server = Gunicorn(config=config, env=env, log_path=var_dir / "gunicorn.log")
            try:
                server.wait_healthy(config)
                known = [f"known-{run_id}-{n}@example.com" for n in range(args.known)]
                for address in known:
                    _post(server.port, address)
                time.sleep(1)  # every known address now has its open request
                # Round 1, a pause before each probe: the answer alone (the work after the previous
                # answer is done). Round 2, back to back: what the previous submission leaves behind.
                answers: dict[str, list[float]] = {"new": [], "known": []}
                after: dict[str, list[float]] = {"new": [], "known": []}
                for round_number, gap in ((1, args.gap), (2, 0.0)):
                    previous = ""
                    for n in range(args.pairs):
                        pair = (
                            ("new", f"new-{run_id}-{round_number}-{n}@example.com"),
                            ("known", known[n % len(known)]),
                        )
                        for kind, address in pair:
                            time.sleep(gap)
                            took = _post(server.port, address)
                            if round_number == 1:
                                answers[kind].append(took)
                            elif previous:
                                after[previous].append(took)
                            previous = kind
            finally:
                server.stop()
        print(f"== Intake timing: {args.pairs} pairs per round, one client, gunicorn 2 sync workers ==")
        print(_line("answer, new address", answers["new"]))
        print(_line("answer, known address", answers["known"]))
        ratio = percentile(sorted(answers["known"]), 50) / percentile(sorted(answers["new"]), 50)
        print(f"ratio of medians (known/new) : {ratio:.2f}")
        print(_line("next answer, after a new", after["new"]))
        print(_line("next answer, after a known", after["known"]))
        print("load average : {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg()))
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
