"""``mac run --redis-url``: a shared budget for the run; a bad URL refused in one line that never shows its password."""

from __future__ import annotations

import json

from redis_server import redis_server  # noqa: F401  (the fixture)


def write_jobs(path, count: int) -> None:
    path.write_text(
        "".join(json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) + "\n" for i in range(count))
    )


def test_a_run_with_a_redis_url_charges_the_shared_budget(start_mac_cli, tmp_path, redis_server):  # noqa: F811
    import redis

    cli = start_mac_cli(rpm=600)
    write_jobs(tmp_path / "in.jsonl", 5)
    done = cli.run(
        "run", "in.jsonl", "-o", "out.jsonl", "--transport", "messages", "--redis-url", redis_server.url
    )
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5
    (key,) = redis.Redis.from_url(redis_server.url).keys("mac:rate-limits:*")
    assert (
        redis.Redis.from_url(redis_server.url).hget(key, "r") is not None
    )  # the requests bucket lives there


def test_a_bad_redis_url_is_one_line_exit_2_without_its_password(start_mac_cli, tmp_path):
    cli = start_mac_cli()
    write_jobs(tmp_path / "in.jsonl", 1)
    done = cli.run("run", "in.jsonl", "-o", "out.jsonl", "--redis-url", "http://me:hunter2@127.0.0.1:6379")
    assert (
        done.returncode == 2
        and "redis_url must be a redis://" in done.stderr
        and "hunter2" not in done.stderr
    )
    assert cli.sim.stats.messages == 0
