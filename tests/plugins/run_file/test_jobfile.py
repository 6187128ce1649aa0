"""Reading prompt files: bad lines are reported with their number and skipped; resume reads past results."""

from __future__ import annotations

import json

from mac_plugins.run_file.jobfile import completed_results, read_jobs


def test_bad_lines_are_reported_by_number_and_skipped(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "prompt": "first"}),
                "{not json",
                json.dumps(["a", "list"]),
                json.dumps({"id": "b"}),
                json.dumps({"id": "a", "prompt": "again"}),
                "",
                json.dumps({"id": "c", "prompt": "x", "max_tokens": 0}),
                json.dumps({"id": "d", "prompt": "x", "colour": "red"}),
                json.dumps({"prompt": "no id", "system": "be brief"}),
                json.dumps({"id": 7, "prompt": "numeric id"}),
            ]
        )
        + "\n"
    )
    jobs = read_jobs(source, model="m", max_tokens=10)
    assert [p["id"] for p in jobs.prompts] == ["a", "9", "7"]
    reasons = {bad.number: bad.reason for bad in jobs.bad_lines}
    assert reasons[2].startswith("not JSON")
    assert reasons[3] == "expected a JSON object, got list"
    assert reasons[4] == "this line is missing 'prompt'"
    assert reasons[5] == "duplicate id 'a'"
    assert reasons[7] == "this line: max_tokens must be positive, got 0"
    assert reasons[8].startswith("unknown field 'colour'")
    assert set(reasons) == {2, 3, 4, 5, 7, 8}


def test_resume_counts_only_completed_results_and_ignores_a_torn_last_line(tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_text(
        json.dumps({"id": "a", "status": "completed"})
        + "\n"
        + json.dumps({"id": "b", "status": "failed"})
        + "\n"
        + '{"id": "c", "status": "compl'
    )
    assert completed_results(output) == {"a": None}
    assert completed_results(tmp_path / "missing.jsonl") == {}


def test_a_line_without_an_id_whose_line_number_is_taken_says_so(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "3", "prompt": "first"}\n{"prompt": "second"}\n{"prompt": "third"}\n')
    jobs = read_jobs(source, model="m", max_tokens=10)
    assert [p["id"] for p in jobs.prompts] == ["3", "2"]
    (bad,) = jobs.bad_lines
    assert bad.number == 3 and "takes its line number as id" in bad.reason and "give this line an id" in bad.reason
