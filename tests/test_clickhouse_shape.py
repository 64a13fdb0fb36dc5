"""Report SQL as ClickHouse 18.16 reads it: GROUP BY items read through an alias of a column's own
name; the JSON property function it lacks, and what its stand-in answers."""

from __future__ import annotations

import json

from clickhouse_driver import Client

from crumby.etl.parse import props_text
from crumby.queries.clickhouse_shape import group_by_aliases, grouped_distinct_counts, without_json_functions


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


GATHERED = "toUInt64(arrayUniq(groupArray({})))"


def test_distinct_counts_of_a_grouped_select_are_gathered_per_group():
    sql = (
        "SELECT v.page, COUNT(DISTINCT v.visitor_key) AS visitors, count( distinct (v.a + 1) ) AS b\n"
        "FROM visits v GROUP BY v.page ORDER BY COUNT(DISTINCT v.visit_key) DESC"
    )
    assert grouped_distinct_counts(sql) == (
        f"SELECT v.page, {GATHERED.format('v.visitor_key')} AS visitors, "
        f"{GATHERED.format('(v.a + 1)')} AS b\n"
        f"FROM visits v GROUP BY v.page ORDER BY {GATHERED.format('v.visit_key')} DESC"
    )


def test_ungrouped_counts_several_expressions_text_and_comments_are_left_alone():
    ungrouped = (
        "SELECT COUNT(DISTINCT s.visitor_key) FROM sessions s -- GROUP BY\n"
        "UNION ALL SELECT COUNT(DISTINCT e.visitor_key) FROM (SELECT 1 FROM t GROUP BY x) e"
    )
    assert grouped_distinct_counts(ungrouped) == ungrouped
    kept = "SELECT a, COUNT(DISTINCT b, c), 'COUNT(DISTINCT d)' /* COUNT(DISTINCT e) */ FROM t GROUP BY a"
    assert grouped_distinct_counts(kept) == kept
    windowed = "SELECT a, COUNT(DISTINCT b) OVER (PARTITION BY a), COUNT(DISTINCT c) FROM t GROUP BY a, b"
    assert grouped_distinct_counts(windowed) == windowed.replace("COUNT(DISTINCT c)", GATHERED.format("c"))
    # the grouped SELECT inside is rewritten, the one around it (no GROUP BY) is not
    nested = "SELECT COUNT(DISTINCT q.n) FROM (SELECT a, COUNT(DISTINCT b) AS n FROM t GROUP BY a) q"
    assert grouped_distinct_counts(nested) == nested.replace("COUNT(DISTINCT b)", GATHERED.format("b"))


def _distinct_counts(execute) -> tuple[list, list]:
    """A grouped distinct count over NULLs, empty groups and repeats, as written and as gathered."""
    sql = (
        "SELECT g, COUNT(DISTINCT x) AS n, COUNT(*) AS c FROM ("
        "SELECT number % 7 AS g, if(number % 3 = 0, NULL, toNullable(intDiv(number, 5) % 11)) AS x "
        "FROM system.numbers LIMIT 500 UNION ALL SELECT 9, NULL) t GROUP BY g ORDER BY g"
    )
    assert grouped_distinct_counts(sql) != sql
    return execute(sql), execute(grouped_distinct_counts(sql))


def test_gathered_counts_equal_distinct_counts_on_the_server(clickhouse_server):
    client = Client("127.0.0.1", port=clickhouse_server.tcp_port)
    written, gathered = _distinct_counts(client.execute)
    assert written[:-1] == gathered[:-1] and len(written) == 8 and written[0] == (0, 11, 72)
    # a group of NULLs alone: 0 gathered, as SQL counts it; 18.16's own COUNT(DISTINCT) says NULL
    assert gathered[-1] == (9, 0, 1) and written[-1] in ((9, 0, 1), (9, None, 1))


def test_gathered_counts_equal_distinct_counts_on_a_current_release(tmp_path):
    from chdb import session

    chdb = session.Session(str(tmp_path / "chdb"))
    try:
        written, gathered = _distinct_counts(lambda sql: chdb.query(sql, "CSV").bytes().decode())
    finally:
        chdb.close()
    assert written == gathered and written.splitlines()[0] == "0,11,72"
    assert written.splitlines()[-1] == "9,0,1"


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
