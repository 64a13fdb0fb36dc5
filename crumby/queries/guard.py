"""A second line of defence: refuse rendered SQL that is not one plain SELECT.

The first line is the connection (crumby.store.readonly): read-only, time
limited, files and extensions off where the database allows it. But a
report server given a powerful account on MariaDB or PostgreSQL could still
read server files (LOAD_FILE, SELECT ... INTO OUTFILE) inside a read-only
transaction, so templates are also checked here: one statement, starting
with SELECT or WITH, free of statement keywords that write or configure and
of the functions that reach files, other databases or settings.
"""

from __future__ import annotations

import re

from .params import TemplateError

_STATEMENT_WORDS = """
    insert update delete merge upsert create drop alter truncate grant revoke copy attach detach
    pragma set reset into outfile dumpfile load install export import call execute exec prepare
    deallocate vacuum checkpoint lock unlock handler listen notify reindex cluster analyze begin
    commit rollback savepoint release use
"""
_FUNCTION_NAMES = """
    load_file pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file pg_ls_logdir pg_ls_waldir
    pg_ls_tmpdir pg_ls_archive_statusdir lo_import lo_export lo_from_bytea lo_put lo_get dblink
    dblink_exec dblink_connect set_config pg_terminate_backend pg_cancel_backend pg_reload_conf
    pg_rotate_logfile pg_promote read_csv read_csv_auto read_parquet parquet_scan read_json
    read_json_auto read_json_objects read_ndjson read_ndjson_auto read_ndjson_objects read_text
    read_blob read_xlsx sniff_csv glob query query_table getenv sys_exec sys_eval readfile
    writefile load_extension
"""
FORBIDDEN_WORDS = frozenset(_STATEMENT_WORDS.split())
FORBIDDEN_FUNCTIONS = frozenset(_FUNCTION_NAMES.split())
STARTS = ("select", "with", "(")
_LEXEME_PATTERN = r"""
      (?P<comment>{comment})
    | (?P<string>{string})
    | (?P<quoted>{quoted})
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<other>[\s\S])
"""
# How each database reads comments, strings and quoted names. Where crumby's reading could
# differ from the database's, it errs towards seeing code (and refusing), never towards
# hiding code inside a "comment" or "string": MySQL runs /*! ... */ and needs a space after
# --, reads backslash escapes and double-quoted strings; PostgreSQL has E'...' strings.
_SYNTAX = {
    "mysql": {
        "comment": r"--[ \t\r\n\f][^\n]*|--$|\#[^\n]*|/\*(?![!+]|M!).*?\*/",
        "string": r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"",
        "quoted": r"`(?:[^`]|``)*`",
    },
    "postgresql": {
        "comment": r"--[^\n]*|/\*.*?\*/",
        "string": r"[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'",
        "quoted": r"\"(?:[^\"]|\"\")*\"",
    },
}
_STANDARD = {"comment": r"--[^\n]*|/\*.*?\*/", "string": r"'(?:[^']|'')*'", "quoted": r"\"(?:[^\"]|\"\")*\""}


def _lexer(dialect: str) -> re.Pattern:
    syntax = _SYNTAX.get(dialect, _STANDARD)
    pattern = _LEXEME_PATTERN
    for part, regex in syntax.items():
        pattern = pattern.replace("{" + part + "}", regex)
    return re.compile(pattern, re.X | re.S)


def _lexemes(sql: str, dialect: str) -> list[tuple[str, str]]:
    """(kind, text) with comments dropped; strings and quoted names kept as single items."""
    return [(m.lastgroup, m.group()) for m in _lexer(dialect).finditer(sql) if m.lastgroup != "comment"]


def check_statement(sql: str, where: str, dialect: str) -> None:
    """Raise TemplateError (naming ``where``, the template) unless ``sql`` is one read-only SELECT."""
    items = [
        (kind, text) for kind, text in _lexemes(sql, dialect) if not (kind == "other" and text.isspace())
    ]
    while items and items[-1] == ("other", ";"):
        items.pop()
    if not items:
        raise TemplateError(f"{where} renders no SQL")
    if ("other", ";") in items:
        raise TemplateError(f"{where} holds more than one statement; a report is a single SELECT")
    if items[0][1].lower() not in STARTS:
        raise TemplateError(f"{where} must be a SELECT (or WITH ... SELECT), not {items[0][1][:20]!r}")
    for index, (kind, text) in enumerate(items):
        if kind != "word":
            continue
        word = text.lower()
        if word in FORBIDDEN_WORDS:
            raise TemplateError(f"{where} uses {text.upper()}, which a report may not")
        following = items[index + 1] if index + 1 < len(items) else ("", "")
        if word in FORBIDDEN_FUNCTIONS and following == ("other", "("):
            raise TemplateError(f"{where} calls {word}(), which a report may not")
