"""The GROUP BY items that ClickHouse 18.16 would read through an alias of a column's own name."""

from __future__ import annotations

from crumby.queries.clickhouse_shape import group_by_aliases


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
