"""AnswerTable past its limit (crumby/etl/enrich/distinct.py): it forgets the keys used longest ago,
keeps the answers of the others, and every slot it returns still holds its key's answer."""

from __future__ import annotations

import pyarrow as pa

from crumby.etl.enrich.distinct import AnswerTable, Encoded


class Describer:
    """Answers a key with its upper case, and notes the keys of each call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, keys: pa.Array) -> list[tuple]:
        self.calls.append(keys.to_pylist())
        return [(key.upper(), False) for key in self.calls[-1]]


def table(limit: int = 10) -> AnswerTable:
    return AnswerTable(("name", "flag"), ("-", True), {"flag": "bool"}, limit=limit)


def answered(answers: AnswerTable, keys: list[str], describe: Describer) -> list[str]:
    """The names ``answers`` gives ``keys``, through the slots it returns; checks each is its key's."""
    slots = answers.slots(pa.array(keys), describe)
    names = [answers.columns["name"][int(slot)].as_py() for slot in slots]
    assert names == [key.upper() for key in keys]
    assert answers.columns["name"][0].as_py() == "-" and answers.columns["flag"][0].as_py() is True
    return names


def test_past_its_limit_a_table_keeps_the_batch_and_the_keys_used_most_recently():
    answers, describe = table(limit=10), Describer()
    answered(answers, list("abcdef"), describe)
    answered(answers, list("gh"), describe)
    answered(answers, list("ab"), describe)  # used again: d, e and f are now the oldest
    assert len(answers) == 8

    answered(answers, list("cijk"), describe)  # 3 new keys on 8: past 10
    assert describe.calls == [list("abcdef"), list("gh"), list("ijk")]  # c is not parsed again
    assert sorted(answers.keys.to_pylist()) == list("abcghijk")  # half the limit kept, then the new
    assert answers.added == 11

    answered(answers, list("abghcd"), describe)
    assert describe.calls[-1] == ["d"]  # only the one forgotten
    rows = answers.answers(Encoded.of(pa.array(["h", None, "d", "a", None])), describe)
    assert rows.per_row("name").to_pylist() == ["H", "-", "D", "A", "-"]
    assert rows.per_row("flag").to_pylist() == [False, True, False, False, True]
    assert answers.added == 12


def test_a_table_keeps_what_it_kept_over_a_compaction_and_in_the_order_of_use():
    answers, describe = table(limit=10), Describer()
    for keys in ("abcdef", "gh", "ab", "cijk"):
        answered(answers, list(keys), describe)
    kept = answers.kept()
    assert kept.column("key").to_pylist() == list("ghabcijk")  # least recently used first
    assert kept.column("name").to_pylist() == list("GHABCIJK")

    again, later = table(limit=10), Describer()
    assert again.take(kept)
    answered(again, list("kgc"), later)
    assert later.calls == []
    answered(again, list("xyz"), later)  # 3 new on 8: past 10
    assert later.calls == [list("xyz")]
    # g, c and k were used by this table; of the others, the later in the file were used later.
    assert sorted(again.keys.to_pylist()) == list("cgijkxyz")
    assert again.kept().column("key").to_pylist()[-3:] == list("xyz")


def test_a_batch_of_more_keys_than_the_limit_is_kept_alone_and_kept_at_most_to_the_limit():
    answers, describe = table(limit=4), Describer()
    answered(answers, list("ab"), describe)
    answered(answers, list("acdefg"), describe)  # 6 keys, 5 of them new: more than 4
    assert describe.calls == [list("ab"), list("cdefg")]
    assert sorted(answers.keys.to_pylist()) == list("acdefg")  # only this batch's, past the limit
    kept = answers.kept()
    assert len(kept) == 4  # the most recently used (all of the last batch: the later slots)
    assert kept.column("key").to_pylist() == list("defg")
    assert table(limit=4).take(kept)

    answered(answers, list("gh"), describe)  # the next batch with a new key brings it back under
    assert describe.calls[-1] == ["h"]
    assert len(answers) <= 4 and "g" in answers.keys.to_pylist()
