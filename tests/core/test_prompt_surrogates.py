"""Text that cannot be sent as UTF-8 (a lone surrogate) is refused before any request, naming it and where it is."""

from __future__ import annotations

import re

import pytest

from mac_core import Coordinator

BAD = "abc\udc80def"  # what bytes decoded with errors='surrogateescape' leave behind


@pytest.mark.parametrize(
    ("prompts", "system", "where"),
    [
        ([BAD], None, "prompts[0]['prompt']"),
        (["fine", {"prompt": BAD}], None, "prompts[1]['prompt']"),
        (["fine"], BAD, "shared_system"),
        ([{"prompt": "fine", "system": BAD}], None, "prompts[0]['system']"),
        (
            [{"prompt": "fine", "system": [{"type": "text", "text": "ok"}, {"type": "text", "text": BAD}]}],
            None,
            "prompts[0]['system'][1]['text']",
        ),
        ([{"prompt": "fine", "system": BAD, "cache_system": True}], None, "prompts[0]['system']"),
    ],
)
def test_a_lone_surrogate_in_a_prompt_or_system_is_refused_before_any_request(
    mac_sim, prompts, system, where
):
    with pytest.raises(
        ValueError, match=re.escape(f"{where} holds '\\udc80' at character 3, a lone surrogate")
    ):
        Coordinator().run(prompts, system=system, transport="stream")
    assert mac_sim.stats.messages == 0


def test_paired_surrogates_and_other_unicode_are_sent(mac_sim):
    (result,) = Coordinator().run(["emoji 😀 and ü [[reply: 😀 ü]]"], system="système", transport="stream")
    assert result.status == "completed" and result.text == "😀 ü"
