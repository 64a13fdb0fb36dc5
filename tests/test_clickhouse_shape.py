"""Report SQL as ClickHouse 18.16 reads it: GROUP BY items read through an alias of a column's own
name; the JSON property function it lacks, and what its stand-in answers."""

from __future__ import annotations

import json

from clickhouse_driver import Client

from crumby.etl.parse import props_text
from crumby.queries.clickhouse_shape import group_by_aliases, without_json_functions


def test_a_group_by_item_shadowed_by_its_alias_becomes_the_alias():
    sql = (
        "SELECT COALESCE(s.browser, '') AS browser, COUNT(*) AS visits FROM sessions s "
        "WHERE s.site = 'a' GROUP BY COALESCE(s.browser,  '') ORDER BY visits DESC, browser"
    )
    assert group_by_aliases(sql) == sql.replace("GROUP BY COALESCE(s.browser,  '')", "GROUP BY browser")


def test_other_items_subqueries_and_text_are_left_alone():
    sql = (
        "SELECT COALESCE(g.a, '') AS label, COALESCE(g.b, '') AS b, COUNT(*) AS n\n"
        "FROM (SELECT COALESCE(v.b, '') AS b, 'GROUP BY x' AS a FROM visits v\n"
        "      GROUP BY COALESCE(v.b, ''), 'GROUP BY x') g\n"
        "GROUP BY COALESCE(g.a, ''), COALESCE(g.b, '')\nLIMIT 5"
    )
    assert group_by_aliases(sql) == (
        "SELECT COALESCE(g.a, '') AS label, COALESCE(g.b, '') AS b, COUNT(*) AS n\n"
        "FROM (SELECT COALESCE(v.b, '') AS b, 'GROUP BY x' AS a FROM visits v\n"
        "      GROUP BY b, 'GROUP BY x') g\n"
        "GROUP BY COALESCE(g.a, ''), b\nLIMIT 5"
    )


def test_the_json_function_is_swapped_only_where_it_is_called():
    sql = (
        "SELECT JSONExtractString(e.props, 'plan') AS v, 'JSONExtractString(x)' AS t -- JSONExtractString(\n"
        "FROM events e WHERE JSONExtractString (e.props, 'a') = '' AND JSONExtractStringX(e.props) = ''"
    )
    assert without_json_functions(sql) == sql.replace(
        "SELECT JSONExtractString(", "SELECT visitParamExtractString("
    ).replace("WHERE JSONExtractString (", "WHERE visitParamExtractString (")


# Property values as the ETL stores them (compact JSON text, escapes and all) and what the stand-in
# reads there: each comes back exactly as it was sent, a value that looks like a key included.
VALUES = ["pro", 'a "b" \\ c / d', "tab\t new\nline \x01 \x00 \x7f", "ünï 😀 \u2028", "", '"plan":"x"']


def test_the_stand_in_reads_the_props_the_etl_stores(clickhouse_server):
    client = Client("127.0.0.1", port=clickhouse_server.tcp_port)
    assert not client.execute("SELECT count() FROM system.functions WHERE name = 'JSONExtractString'")[0][0]
    for value in VALUES:
        stored = props_text({"from": value, "plan": value, "x": "1"})
        (found,) = client.execute(
            "SELECT visitParamExtractString(%(p)s, 'plan'), visitParamExtractString(%(p)s, 'none')",
            {"p": stored},
        )
        assert found == (value, ""), stored
    # The one case it reads differently from a JSON parser: a key ending in an escaped quote and
    # the wanted key's name. It finds ``"plan":`` inside that first key and answers its value.
    stored = props_text({'x"plan': "a", "plan": "b"})
    assert json.loads(stored)["plan"] == "b"
    assert client.execute("SELECT visitParamExtractString(%(p)s, 'plan')", {"p": stored})[0][0] == "a"
