"""schemathesis against the running gateway's OpenAPI document (issue 11, "Done means").

The gateway runs behind uvicorn on real NATS and PostgreSQL, once in local mode and once with
API keys; schemathesis (its CLI, as CI would run it) generates a bounded number of requests per
operation from the document and checks that none is answered with a server error and that
every status and content type the API answers is documented.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from tests.integration.test_gateway_integration import gateway_settings  # noqa: F401 - fixture
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance"
ADMIN_KEY = "fuzz-admin-key-0123456789"
KEYS = {
    ADMIN_KEY: {"id": "root", "roles": ["admin"]},
    "fuzz-submitter-key-0123456789": {"id": "alice", "roles": ["submitter"], "tenant": "t1"},
}
# Per mode: the phases and examples per operation, bounded so both runs take about a minute.
RUNS: dict[str, dict[str, Any]] = {
    "local": {"phases": "examples,coverage,fuzzing,stateful", "examples": 4},
    "keys": {"phases": "examples,fuzzing,stateful", "examples": 8},
}


def _serve(settings: GatewaySettings) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        """uvicorn is up; its thread dying first fails at once."""
        assert thread.is_alive(), "gateway did not start"
        return server.started

    eventually(started, timeout=30, message="gateway did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(params=sorted(RUNS))
def gateway(
    request: pytest.FixtureRequest,
    gateway_settings: GatewaySettings,  # noqa: F811
) -> Iterator[tuple[str, str, list[str]]]:
    """(mode, base URL, extra schemathesis arguments) of a served gateway."""
    mode = str(request.param)
    # A followed event stream ends after a second, so the fuzzer's requests for live workflows
    # come back instead of streaming until the request times out.
    local = gateway_settings.model_copy(update={"sse_max_seconds": 1.0})
    if mode == "local":
        yield from ((mode, url, []) for url in _serve(local))
        return
    settings = GatewaySettings(
        **local.model_dump(
            include={
                "nats_url",
                "database_url",
                "subject_prefix",
                "stream_name",
                "data_dir",
                "sse_max_seconds",
            }
        ),
        local_mode=False,
        api_keys=KEYS,
        LANGGRAPH_AES_KEY="k" * 32,
    )
    yield from (
        (mode, url, ["-H", f"Authorization: Bearer {ADMIN_KEY}"]) for url in _serve(settings)
    )


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(
    gateway: tuple[str, str, list[str]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mode, url, extra = gateway
    run = RUNS[mode]
    cli = Path(sys.executable).with_name("schemathesis")
    command = [
        str(cli),
        "run",
        f"{url}/openapi.json",
        "--checks",
        CHECKS,
        "--phases",
        run["phases"],
        "--max-examples",
        str(run["examples"]),
        "--seed",
        "11",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        *extra,
    ]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""}
    with caplog.at_level(logging.ERROR):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    output = done.stdout + done.stderr
    summary = re.search(r"(\d+) generated, (\d+) (?:passed|found)", output)
    print(f"\nschemathesis ({mode}): {summary.group(0) if summary else 'no summary'}")
    assert done.returncode == 0, output[-6000:]
    assert summary is not None and int(summary.group(1)) >= 100, output[-3000:]
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert tracebacks == [], tracebacks
