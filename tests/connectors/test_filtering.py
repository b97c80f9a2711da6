"""Response filtering: field paths, parsing answers, dropping nulls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors import Engine, RequestConfig, drop_nulls, filter_response, parse_field_paths
from connectors.filtering import get_path, read_path
from tests.servers import LocalServer, Reply, compressed_json, json_reply, text_reply

Make = Callable[..., RequestConfig]
ANSWER = {
    "data": {"person": {"name": "Ada", "age": 36, "email": None}},
    "items": [{"id": 1}, {"id": 2}, {"id": 3}],
    "1": "a key that looks like an index",
}


def paths(text: str) -> tuple[tuple[str, ...], ...]:
    return parse_field_paths(text)


@pytest.mark.parametrize(
    ("field_paths", "expected"),
    [
        ("", ANSWER),
        ("data.person.name", "Ada"),
        ("data.person", {"name": "Ada", "age": 36, "email": None}),
        ("items.0.id", 1),
        ("items[1].id", 2),
        ("items.-1.id", 3),
        ("items.1", {"id": 2}),
        ("1", "a key that looks like an index"),
        ("data.person.email", None),
        ("data.nobody.name", None),
        ("items.9.id", None),
        ("items.first", None),
        ("data.person.name.first", None),
        (
            "data.person.name, items.0.id, missing",
            {"data": {"person": {"name": "Ada"}}, "items": [{"id": 1}], "missing": None},
        ),
        (
            "data.person.name, data.person.age, items.-1.id, items.1",
            {"data": {"person": {"name": "Ada", "age": 36}}, "items": [None, {"id": 2}, {"id": 3}]},
        ),
        ("data.person, data.person.name", {"data": {"person": ANSWER["data"]["person"]}}),
        ("items.9.id, items.first, 1", {"items": [], "1": "a key that looks like an index"}),
        (
            "data.person.name.first, data.nobody.x",
            {"data": {"person": {"name": None}, "nobody": None}},
        ),
    ],
)
def test_field_paths_select_values(field_paths: str, expected: Any) -> None:
    assert filter_response(ANSWER, paths(field_paths)) == expected


@pytest.mark.parametrize(
    "field_paths",
    [
        "data.person.name, items.0.id",
        "data.person.age, items.-1.id, items.1.id, 1",
        "data.person.email, data.nobody.name, items.9.id",
        "items.2.id, items.0.id, data.person",
    ],
)
def test_every_kept_path_reads_the_same_in_the_kept_value(field_paths: str) -> None:
    kept = filter_response(ANSWER, paths(field_paths))
    for path in paths(field_paths):
        assert read_path(kept, path) == get_path(ANSWER, path), path


def test_values_kept_in_the_older_flat_shape_still_read_by_path() -> None:
    flat = {"query.email": "ada@example.test", "headers": {"x-id": "7"}, "a.b": {"c": [1, 2]}}
    assert read_path(flat, ("query", "email")) == "ada@example.test"
    assert read_path(flat, ("headers", "x-id")) == "7"
    assert read_path(flat, ("a", "b", "c", "1")) == 2
    assert read_path(flat, ("query", "name")) is None
    assert read_path({"query": {"email": "new"}}, ("query", "email")) == "new"


def test_paths_into_a_list_answer_and_a_scalar_answer() -> None:
    assert filter_response([{"a": 1}], paths("0.a")) == 1
    assert filter_response("text", paths("a")) is None


def test_drop_nulls_is_recursive_and_keeps_empty_containers() -> None:
    value = {"a": None, "b": [1, None, {"c": None, "d": 0}], "e": {"f": None}, "g": False}
    assert drop_nulls(value) == {"b": [1, {"d": 0}], "e": {}, "g": False}


def test_the_engine_applies_field_paths(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/person", json_reply(ANSWER))
    result = engine.send(make_config(api_server.url("/person"), field_paths="data.person.name"))
    assert result.value == "Ada"
    assert result.body == ANSWER


@pytest.mark.parametrize(
    ("reply", "body"),
    [
        (text_reply("plain words"), "plain words"),
        (text_reply('{"looks": "like json"}', content_type="text/plain"), {"looks": "like json"}),
        (text_reply("<html>hi</html>", content_type="text/html"), "<html>hi</html>"),
        (lambda r: Reply(status=204), None),
        (
            lambda r: Reply(
                body="café".encode("latin-1"),
                headers={"Content-Type": "text/plain; charset=latin-1"},
            ),
            "café",
        ),
        (lambda r: Reply(body=b"\xef\xbb\xbf[1, 2]"), [1, 2]),
        (compressed_json({"zipped": True}), {"zipped": True}),
        (compressed_json({"deflated": True}, encoding="deflate"), {"deflated": True}),
    ],
)
def test_answers_are_parsed_as_json_or_kept_as_text(
    engine: Engine, api_server: LocalServer, make_config: Make, reply: Any, body: Any
) -> None:
    api_server.route("/answer", reply)
    result = engine.send(make_config(api_server.url("/answer")))
    assert result.ok
    assert result.body == body
    assert result.value == body


def test_raw_deflate_is_accepted_too(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    import zlib

    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = compressor.compress(b'{"raw": true}') + compressor.flush()
    api_server.route("/raw", lambda r: Reply(body=raw, headers={"Content-Encoding": "deflate"}))
    assert engine.send(make_config(api_server.url("/raw"))).value == {"raw": True}


def test_an_unsupported_encoding_is_a_clear_error(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/br", lambda r: Reply(body=b"\x00\x01", headers={"Content-Encoding": "br"}))
    result = engine.send(make_config(api_server.url("/br"), retry={"attempts": 1}))
    assert result.error is not None
    assert result.error.message == "The API answered with an unsupported encoding (br)."
