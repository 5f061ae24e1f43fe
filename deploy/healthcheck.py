"""Container healthcheck without curl: exit 0 when any given URL (or path) answers 200.

    python /app/healthcheck.py                 # the service's own /healthz or /health
    python /app/healthcheck.py /readyz         # a path on AUTOPILOT_HTTP_PORT
    python /app/healthcheck.py http://127.0.0.1:8222/healthz
"""

import os
import sys
import urllib.request


def answers(target: str) -> bool:
    """Whether GET target returns 200 within a few seconds."""
    if target.startswith("/"):
        target = f"http://127.0.0.1:{os.environ.get('AUTOPILOT_HTTP_PORT', '8080')}{target}"
    try:
        with urllib.request.urlopen(target, timeout=4) as response:
            return response.status == 200
    except OSError:  # refused, timed out, or an HTTP error status
        return False


if __name__ == "__main__":
    # The gateway serves /healthz, the swarms /health: with no argument either one will do.
    sys.exit(0 if any(answers(t) for t in sys.argv[1:] or ["/healthz", "/health"]) else 1)
