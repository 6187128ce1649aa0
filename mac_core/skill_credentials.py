"""The skill lineage's key files, read after this project's own sources: :func:`get_anthropic_api_key`.

Order: this project's (``ANTHROPIC_API_KEY``, then the mac config file, see
:mod:`mac_core.credentials`), then the skill's files in the claude.ai project
folder (``/mnt/project``): ``claude.env`` with a line ``API_KEY=...``,
``ANTHROPIC_API_KEY.txt``, ``API_CREDENTIALS.json`` with
``{"anthropic_api_key": "..."}``. Errors name the file, never its content.
"""

from __future__ import annotations

import json
from pathlib import Path

from .credentials import API_KEY_ENV, OFFLINE_HINT, Secret, checked_secret, config_path, find_api_key

#: Where claude.ai mounts a project's files; the skill's key files live there.
PROJECT_DIR = Path("/mnt/project")


def _claude_env_key(path: Path) -> str | None:
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("API_KEY="):
            value = line[len("API_KEY="):].strip().strip("\"'")
            if value:
                return value
    return None


def _credentials_json_key(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (line {exc.lineno}); expected {{\"anthropic_api_key\": \"...\"}}") from None
    value = data.get("anthropic_api_key") if isinstance(data, dict) else None
    if value is not None and not isinstance(value, str):
        raise ValueError(f"anthropic_api_key in {path} must be a string")
    return value or None


def find_project_file_key(project_dir: Path | None = None) -> Secret | None:
    """The key from the skill's files in ``project_dir`` (default :data:`PROJECT_DIR`), in the skill's order."""
    folder = project_dir if project_dir is not None else PROJECT_DIR
    readers = (
        ("claude.env", _claude_env_key),
        ("ANTHROPIC_API_KEY.txt", lambda path: path.read_text()),
        ("API_CREDENTIALS.json", _credentials_json_key),
    )
    for name, read in readers:
        path = folder / name
        if not path.is_file():
            continue
        try:
            value = read(path)
        except OSError as exc:
            raise ValueError(f"found {path} but cannot read it: {type(exc).__name__}; check its permissions") from None
        key = checked_secret(value, str(path)) if value else None
        if key is not None:
            return key
    return None


def find_skill_api_key(project_dir: Path | None = None) -> Secret | None:
    """The key from this project's sources, else the skill's files; ``None`` when there is none."""
    return find_api_key() or find_project_file_key(project_dir)


def missing_key_message(project_dir: Path | None = None) -> str:
    """Where a key may be put, for the error raised when none is found."""
    folder = project_dir if project_dir is not None else PROJECT_DIR
    return (
        f"no Anthropic API key: set {API_KEY_ENV}, put api_key = \"...\" in {config_path()}, "
        f"or (as the skill read it) API_KEY=... in {folder / 'claude.env'}, the key alone in "
        f"{folder / 'ANTHROPIC_API_KEY.txt'}, or {{\"anthropic_api_key\": \"...\"}} in {folder / 'API_CREDENTIALS.json'}; "
        f"{OFFLINE_HINT}"
    )


def require_skill_api_key(project_dir: Path | None = None) -> Secret:
    """The key as a :class:`Secret`, or :class:`~mac_core.invocation_errors.APIKeyNotFoundError`."""
    from .invocation_errors import APIKeyNotFoundError

    key = find_skill_api_key(project_dir)
    if key is None:
        raise APIKeyNotFoundError(missing_key_message(project_dir))
    return key


def get_anthropic_api_key() -> str:
    """The Anthropic API key as a string (the skill's function): this project's sources, then the skill's files.

    :raises ValueError: (an :class:`~mac_core.invocation_errors.APIKeyNotFoundError`)
        when no source has a key, naming every place to put one; or when a
        key file cannot be read or parsed, naming the file.
    """
    return require_skill_api_key().reveal()
