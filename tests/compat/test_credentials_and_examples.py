"""The skill's key files, its error-handling example, and the SKILL.md quick-start examples unchanged."""

from __future__ import annotations

import json
import threading

import pytest

from mac_core import (
    EXECUTE_MODE,
    ClaudeInvocationError,
    InterruptToken,
    get_anthropic_api_key,
    invoke_claude,
    invoke_claude_streaming,
    invoke_parallel,
    invoke_parallel_interruptible,
    invoke_parallel_streaming,
)

KEY = "sk-ant-api03-compat-test-key"


@pytest.fixture
def keyless(sim, monkeypatch):
    """The simulator, and no key in the environment or the mac config file."""
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    return sim


@pytest.mark.parametrize(("name", "content"), [
    ("claude.env", f'OTHER=1\nAPI_KEY="{KEY}"\n'),
    ("ANTHROPIC_API_KEY.txt", f"{KEY}\n"),
    ("API_CREDENTIALS.json", json.dumps({"anthropic_api_key": KEY})),
])
def test_the_skills_key_files_are_read_after_this_projects_sources(keyless, project_dir, name, content):
    (project_dir / name).write_text(content)
    assert get_anthropic_api_key() == KEY
    assert invoke_claude("[[reply: keyed]]") == "keyed"


def test_the_environment_wins_over_the_skills_files(sim, project_dir, api_key):
    (project_dir / "ANTHROPIC_API_KEY.txt").write_text(KEY)
    assert get_anthropic_api_key() == api_key


def test_claude_env_comes_before_the_key_file(keyless, project_dir):
    (project_dir / "claude.env").write_text(f"API_KEY={KEY}-env\n")
    (project_dir / "ANTHROPIC_API_KEY.txt").write_text(KEY)
    assert get_anthropic_api_key() == f"{KEY}-env"


def test_a_broken_credentials_file_is_named_without_its_content(keyless, project_dir):
    (project_dir / "API_CREDENTIALS.json").write_text('{"anthropic_api_key": "sk-secret-half')
    with pytest.raises(ValueError, match="API_CREDENTIALS.json is not valid JSON") as info:
        get_anthropic_api_key()
    assert "sk-secret" not in str(info.value)


def test_the_skills_error_handling_example_catches_a_missing_key_either_way(keyless):
    with pytest.raises(ValueError, match="no Anthropic API key") as info:
        invoke_claude("Your prompt here")
    assert isinstance(info.value, ClaudeInvocationError) and info.value.kind == "auth"
    with pytest.raises(ClaudeInvocationError):
        invoke_claude_streaming("Your prompt here")
    assert keyless.stats.requests == 0


def test_quick_start_single_and_multi_perspective(sim):
    assert invoke_claude(prompt="Analyze this code for security vulnerabilities: ...", model="claude-sonnet-4-6")
    prompts = [
        {"prompt": "Analyze from security perspective: ...", "system": "You are a security expert"},
        {"prompt": "Analyze from performance perspective: ...", "system": "You are a performance optimization expert"},
        {"prompt": "Analyze from maintainability perspective: ...", "system": "You are a software architecture expert"},
    ]
    results = invoke_parallel(prompts, model="claude-sonnet-4-6")
    assert len(results) == 3 and all(isinstance(r, str) and r for r in results)


def test_quick_start_shared_cached_context(sim):
    results = invoke_parallel(
        [{"prompt": "Find security vulnerabilities"}, {"prompt": "Identify performance bottlenecks"}],
        shared_system="<codebase>\n...\n</codebase>", cache_shared_system=True,
    )
    assert len(results) == 2


def test_quick_start_streaming_and_parallel_streaming(sim, capsys):
    response = invoke_claude_streaming("[[reply: a comprehensive analysis]]",
                                       callback=lambda chunk: print(chunk, end="", flush=True))
    assert response == "a comprehensive analysis" and capsys.readouterr().out == response
    seen: list[str] = []
    results = invoke_parallel_streaming(
        [{"prompt": "[[reply: security]]"}, {"prompt": "[[reply: performance]]"}],
        callbacks=[lambda c: seen.append(f"[Security] {c}"), lambda c: seen.append(f"[Performance] {c}")],
    )
    assert results == ["security", "performance"] and "[Security] security" in seen


def test_quick_start_interruptible_from_a_background_thread(sim):
    token = InterruptToken()
    box = {}
    worker = threading.Thread(target=lambda: box.update(r=invoke_parallel_interruptible(
        prompts=[{"prompt": "[[reply: done]]"}], interrupt_token=token)))
    worker.start()
    worker.join(timeout=10)
    token.interrupt()
    assert box["r"] == ["done"]


def test_execute_mode_goes_in_the_system_prompt(sim):
    response = invoke_claude(prompt="Review auth.py for SQL injection vulnerabilities",
                             system=f"You are a security expert.\n\n{EXECUTE_MODE}")
    assert isinstance(response, str) and response
