"""JSON input is bounded in depth: the limit holds exactly, for arrays and
objects alike, and past Python's own recursion limit."""

import json

import pytest

from config.json_input import MAX_JSON_DEPTH, JSONTooDeep, json_depth, loads_bounded


def _nested(depth: int) -> str:
    """Alternating objects and arrays, `depth` levels, innermost holding 1."""
    text = "1"
    for level in range(depth):
        text = f'{{"k": {text}, "s": "x"}}' if level % 2 else f'[0, {text}, "[]"]'
    return text


@pytest.mark.parametrize("depth", [0, 1, 2, 3, 17, MAX_JSON_DEPTH])
def test_depth_is_the_deepest_chain_of_containers(depth: int) -> None:
    assert json_depth(json.loads(_nested(depth))) == depth


def test_the_deepest_branch_counts_not_the_first_or_the_widest() -> None:
    value = {"wide": list(range(1000)), "a": [[{}]], "b": {"c": [[[{"d": [1]}]]]}}
    assert json_depth(value) == 7
    assert json_depth([[], {}, "[[[[", 1]) == 2  # brackets in a string are text


def test_measuring_stops_once_past_the_bound() -> None:
    value = json.loads(_nested(500))
    assert json_depth(value, stop_after=10) == 11
    assert json_depth(value) == 500


def test_loads_bounded_takes_the_limit_and_refuses_one_more() -> None:
    assert json_depth(loads_bounded(_nested(MAX_JSON_DEPTH))) == MAX_JSON_DEPTH
    with pytest.raises(JSONTooDeep):
        loads_bounded(_nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(JSONTooDeep):
        loads_bounded("[" * 100_000 + "]" * 100_000)  # past the parser's recursion
    with pytest.raises(json.JSONDecodeError):
        loads_bounded('{"a": ')
