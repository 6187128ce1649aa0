"""Which models the API offers: :func:`get_available_models`, through the Models API."""

from __future__ import annotations

from .credentials import find_base_url
from .invocation_errors import ERROR_CONNECTION, ClaudeInvocationError, kind_of
from .results import FAILED, TaskResult
from .skill_credentials import require_skill_api_key


def get_available_models() -> list[str]:
    """The ids of the models the key can use, newest first, from ``GET /v1/models`` (every page).

    Uses the same key and base URL as the other functions (so the simulator
    answers it when ``ANTHROPIC_BASE_URL`` points there).

    :raises ClaudeInvocationError: when the request fails (``kind`` says how).
    :raises ValueError: when there is no API key (also a ``ClaudeInvocationError``).
    """
    import anthropic  # imported when used: importing mac_core stays fast

    api_key = require_skill_api_key()
    client = anthropic.Anthropic(api_key=api_key.reveal(), base_url=find_base_url())
    try:
        return [model.id for model in client.models.list(limit=1000)]
    except anthropic.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        failed = TaskResult(0, "models", FAILED, error=f"HTTP {exc.status_code}: {error.get('message') or exc.message}",
                            status_code=exc.status_code, error_type=error.get("type"))
        raise ClaudeInvocationError(f"listing models failed: {failed.error}", status_code=exc.status_code,
                                    details=f"request id {exc.request_id}", kind=kind_of(failed)) from None
    except anthropic.APIConnectionError as exc:
        raise ClaudeInvocationError(f"listing models failed: {type(exc).__name__}", kind=ERROR_CONNECTION) from None
    finally:
        client.close()

