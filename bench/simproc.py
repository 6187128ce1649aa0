"""A simulator in its own process, with its counters served as JSON for the benchmark clients.

``python -m bench.simproc '{"tokens": 200, "token_delay": 0}'`` prints one line
``{"url": ..., "stats_url": ...}`` and serves until stdin closes. The stats
also count what the prompt cache accounted (tokens read and written, and the
requests that did each), which the simulator itself does not keep.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mac_plugins.simulator import Simulator

#: The prompt-cache counters served next to the simulator's own.
CACHE_COUNTERS = ("cache_read_requests", "cache_read_input_tokens", "cache_write_requests",
                  "cache_creation_input_tokens")


def count_cache_use(sim: Simulator) -> Counter[str]:
    """Tally every request's prompt-cache accounting from now on: tokens read and written, requests doing each."""
    tally: Counter[str] = Counter()
    cache = sim.app.state.simulator.cache
    account = cache.account

    def counted(request: dict[str, Any]) -> Any:
        usage = account(request)
        if usage.cache_read_input_tokens:
            tally["cache_read_requests"] += 1
            tally["cache_read_input_tokens"] += usage.cache_read_input_tokens
        if usage.cache_creation_input_tokens:
            tally["cache_write_requests"] += 1
            tally["cache_creation_input_tokens"] += usage.cache_creation_input_tokens
        return usage

    cache.account = counted  # the instance's own attribute: every request of this app goes through it
    return tally


def serve_stats(sim: Simulator) -> ThreadingHTTPServer:
    """Serve ``GET /`` → the simulator's stream and prompt-cache counters, from a daemon thread on a free port."""
    cache_use = count_cache_use(sim)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            stats = sim.stats
            body = json.dumps(
                {
                    "streams_started": stats.streams_started,
                    "streams_finished": stats.streams_finished,
                    "streams_open": stats.streams_open,
                    "client_disconnects": stats.client_disconnects,
                    "messages": stats.messages,
                    **{key: cache_use[key] for key in CACHE_COUNTERS},
                }
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # the benchmark polls often; stay quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    """Start the simulator with the settings given as JSON, announce its URLs, serve until stdin closes."""
    settings = json.loads(sys.argv[1])
    with Simulator(**settings) as sim:
        stats = serve_stats(sim)
        print(json.dumps({"url": sim.url, "stats_url": f"http://127.0.0.1:{stats.server_port}/"}), flush=True)
        sys.stdin.read()  # the harness closes our stdin to stop us
        stats.shutdown()


if __name__ == "__main__":
    main()
