"""The ``crumby`` command: a thin skin over the library; errors become one-line messages."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from . import __version__
from .config import (
    SETTINGS,
    SETTINGS_BY_NAME,
    SETTINGS_ENV,
    ConfigError,
    display_value,
    load_settings,
    settings_template,
)


class Context:
    """What every command shares: the settings, read once and on first use."""

    def __init__(self) -> None:
        self._settings: dict | None = None

    @property
    def settings(self) -> dict:
        if self._settings is None:
            try:
                self._settings = load_settings()
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
        return self._settings


pass_context = click.make_pass_decorator(Context, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crumby")
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False, exists=True),
    help=f"Settings file to use (default: ${SETTINGS_ENV}).",
)
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """crumby: self-hosted, log-based web analytics.

    The collector (crumby run) appends hits to raw logs; crumby etl, run from
    cron, loads them into the store; the report server and crumby query read it.
    Settings come from defaults, the file named by CRUMBY_SETTINGS (or
    --config), then CRUMBY_<KEY> environment variables: see crumby env.
    """
    if config:
        os.environ[SETTINGS_ENV] = str(Path(config).resolve())
    ctx.obj = Context()


@cli.command("init")
@click.argument("path", type=click.Path(dir_okay=False), default="crumby.cfg")
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init_command(path: str, force: bool) -> None:
    """Write a commented settings template to PATH (default: ./crumby.cfg)."""
    target = Path(path)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; use --force to overwrite it")
    if not target.absolute().parent.is_dir():
        folder = target.absolute().parent
        raise click.ClickException(f"the folder {folder} does not exist; create it (mkdir -p {folder}) first")
    try:
        target.write_text(settings_template(), encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(
            f"cannot write {target}: {exc.strerror}; choose a path you may write to"
        ) from None
    click.echo(f"Settings template written to {target}")
    click.echo("Next: edit it, then point crumby at it:")
    click.echo(f"  export {SETTINGS_ENV}={target.resolve()}")


@cli.command("env")
@pass_context
def env_command(obj: Context) -> None:
    """Print every setting's effective value (secrets masked)."""
    settings = obj.settings
    width = max(len(s.name) for s in SETTINGS)
    source = os.environ.get(SETTINGS_ENV)
    click.echo(f"# settings file: {source or '(none: set ' + SETTINGS_ENV + ')'}")
    for setting in SETTINGS:
        click.echo(f"{setting.name.ljust(width)} = {display_value(setting, settings[setting.name])}")
    for name in sorted(k for k in settings if k not in SETTINGS_BY_NAME):
        click.echo(f"{name.ljust(width)} = {settings[name]!r}  # not a crumby setting")


HOST_OPTION = click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
PORT_OPTION = click.option(
    "--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on."
)


def _serve(settings: dict, host: str, port: int) -> None:
    """Serve the whole web app (collector, reports, dashboard) with the development server."""
    from werkzeug.serving import run_simple

    from .serve.app import create_app

    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    run_simple(host, port, app, threaded=True, use_debugger=bool(settings["DEBUG"]), use_reloader=False)


@cli.command("run")
@HOST_OPTION
@PORT_OPTION
@pass_context
def run_command(obj: Context, host: str, port: int) -> None:
    """Start the development server: tracker, collector and reports.

    For production, run the WSGI app under gunicorn instead (see the README).
    """
    click.echo(f"crumby {__version__}: collecting into {obj.settings['LOG_DIR']}")
    click.echo(f'Add to your pages: <script async src="http://{host}:{port}/cmb.js"></script>')
    _serve(obj.settings, host, port)


@cli.command("demo")
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo keeps its store, logs and login (default: DATA_DIR/demo).",
)
@click.option("--days", default=60, show_default=True, type=click.IntRange(1, 366), help="Days of traffic.")
@click.option("--no-serve", is_flag=True, help="Stop after loading; do not start the server.")
@HOST_OPTION
@PORT_OPTION
@pass_context
def demo_command(obj: Context, folder: Path | None, days: int, no_serve: bool, host: str, port: int) -> None:
    """Load a few weeks of made-up traffic and serve the dashboard.

    The traffic goes through the real collector into raw logs, the real ETL
    loads it into a DuckDB file (with the bundled GeoLite2 database), and a
    login is made for the private reports. Safe to run again: the traffic is
    sent once, the ETL loads only what is new, the password is renewed.
    """
    from .demo.run import run_demo

    folder = folder or Path(obj.settings["DATA_DIR"]) / "demo"
    click.echo(f"crumby demo: everything goes in {folder.resolve()}")
    try:
        result = run_demo(folder, days=days)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if result.hits_sent:
        click.echo(f"Sent {result.hits_sent} made-up hits through the collector.")
    click.echo(f"Loaded: {result.etl_report.summary()}")
    click.echo(f"Sign in for the private reports as {result.username!r} with password {result.password!r}.")
    if no_serve:
        click.echo(f"To look at it later: crumby demo --folder {folder} (nothing is loaded twice).")
        return
    click.echo(f"Dashboard: http://{host}:{port}/   (Ctrl-C to stop)")
    _serve(result.settings, host, port)


@contextmanager
def _auth_store(obj: Context) -> Iterator:
    """The auth database (users, tokens), closed after the command; its errors become messages."""
    import sqlalchemy as sa

    from .auth import AuthError, open_auth_store
    from .store.engine import StoreError

    try:
        store = open_auth_store(obj.settings)
    except (StoreError, sa.exc.SQLAlchemyError, OSError) as exc:
        raise click.ClickException(f"cannot open the auth database: {exc}; check AUTH_DATABASE_URI") from None
    try:
        yield store
    except AuthError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


@cli.command("adduser")
@click.argument("name")
@click.argument("password", required=False)
@pass_context
def adduser_command(obj: Context, name: str, password: str | None) -> None:
    """Add user NAME, who may then sign in and read private reports.

    Without PASSWORD you are asked for it (hidden, twice), which keeps it out
    of your shell history.
    """
    from .auth import add_user

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _auth_store(obj) as store:
        add_user(store, name, password)
    click.echo(f"User {name} added.")


@cli.command("deluser")
@click.argument("name")
@pass_context
def deluser_command(obj: Context, name: str) -> None:
    """Delete user NAME; their open sessions stop working."""
    from .auth import delete_user

    with _auth_store(obj) as store:
        delete_user(store, name)
    click.echo(f"User {name} deleted.")


@cli.command("passwd")
@click.argument("name")
@click.argument("password", required=False)
@pass_context
def passwd_command(obj: Context, name: str, password: str | None) -> None:
    """Change user NAME's password and end their open sessions.

    Without PASSWORD you are asked for it (hidden, twice).
    """
    from .auth import change_password

    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with _auth_store(obj) as store:
        change_password(store, name, password)
    click.echo(f"Password of {name} changed; their sessions are ended.")


@cli.command("users")
@pass_context
def users_command(obj: Context) -> None:
    """List the users who may sign in."""
    from .auth import list_users

    with _auth_store(obj) as store:
        found = list_users(store)
    if not found:
        click.echo("No users yet: add one with `crumby adduser NAME`.")
    for user_id, username in found:
        click.echo(f"{user_id}\t{username}")


@cli.group("token")
def token_group() -> None:
    """API tokens for private reports (sent as `Authorization: Bearer <token>`)."""


@token_group.command("create")
@click.argument("name")
@pass_context
def token_create_command(obj: Context, name: str) -> None:
    """Make a token called NAME and print it (this is the only time it is shown)."""
    from .auth import create_token

    with _auth_store(obj) as store:
        token = create_token(store, name)
    click.echo(token)
    click.echo("Keep it now: crumby stores only its hash and cannot show it again.", err=True)


@token_group.command("list")
@pass_context
def token_list_command(obj: Context) -> None:
    """List the tokens: id, name, created, last used, and whether revoked."""
    from .auth import list_tokens

    with _auth_store(obj) as store:
        found = list_tokens(store)
    if not found:
        click.echo("No tokens yet: make one with `crumby token create NAME`.")
    for info in found:
        status = f"revoked {info.revoked:%Y-%m-%d %H:%M}" if info.revoked else "active"
        used = f"{info.last_used:%Y-%m-%d %H:%M}" if info.last_used else "never used"
        click.echo(f"{info.key_id}\t{info.name}\tcreated {info.created:%Y-%m-%d %H:%M}\t{used}\t{status}")


@token_group.command("revoke")
@click.argument("token_id_or_name")
@pass_context
def token_revoke_command(obj: Context, token_id_or_name: str) -> None:
    """Revoke the token with this id (or every active token with this name)."""
    from .auth import revoke_token

    with _auth_store(obj) as store:
        count = revoke_token(store, token_id_or_name)
    click.echo(f"Revoked {count} token{'s' if count != 1 else ''}.")


@cli.group("goal")
def goal_group() -> None:
    """Goals: pages or events that count as conversions.

    The private Goals report gives each goal's visitors, conversions and conversion rate.
    """


@goal_group.command("add")
@click.argument("name")
@click.option("--event", "event", metavar="NAME", help="The goal is reached by sending this event.")
@click.option(
    "--page",
    "page",
    metavar="PATH",
    help="The goal is reached by viewing this page; * for any text: '/blog/*'.",
)
@pass_context
def goal_add_command(obj: Context, name: str, event: str | None, page: str | None) -> None:
    """Add the goal NAME: an event (--event signup) or a page path (--page '/pricing*')."""
    from .auth import add_goal

    if (event is None) == (page is None):
        raise click.UsageError("give either --event NAME or --page PATH")
    with _auth_store(obj) as store:
        goal = add_goal(
            store, name, "event" if event is not None else "page", event if event is not None else page
        )
    click.echo(f"Goal {goal.name!r} added: {goal.kind} {goal.pattern}")


@goal_group.command("list")
@pass_context
def goal_list_command(obj: Context) -> None:
    """List the goals."""
    from .auth import list_goals

    with _auth_store(obj) as store:
        found = list_goals(store)
    if not found:
        click.echo("No goals yet: add one with `crumby goal add NAME --event EVENT` or `--page PATH`.")
    for goal in found:
        click.echo(f"{goal.name}\t{goal.kind}\t{goal.pattern}")


@goal_group.command("remove")
@click.argument("name")
@pass_context
def goal_remove_command(obj: Context, name: str) -> None:
    """Remove the goal NAME (what was counted stays in the store)."""
    from .auth import remove_goal

    with _auth_store(obj) as store:
        remove_goal(store, name)
    click.echo(f"Goal {name!r} removed.")


@cli.command("query", context_settings={"help_option_names": []})
@click.argument("name", required=False)
@click.option("--days", type=click.IntRange(1), help="The last N days, today included (default 30).")
@click.option("--from", "from_", metavar="YYYY-MM-DD", help="First day of the range.")
@click.option("--to", metavar="YYYY-MM-DD", help="Last day of the range (included).")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE", help="A report parameter.")
@click.option(
    "--filter",
    "-f",
    "filters",
    multiple=True,
    metavar="DIMENSION:OPERATOR:VALUE",
    help="Only what matches, e.g. country:is:DE or page:contains:/blog (is, is_not, contains, not_contains); "
    "repeat for several.",
)
@click.option(
    "--format", "output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.option(
    "--help", "-h", "show_help", is_flag=True, help="Show this message (and NAME's parameters) and exit."
)
@pass_context
@click.pass_context
def query_command(
    ctx: click.Context,
    obj: Context,
    name: str | None,
    days: int | None,
    from_: str | None,
    to: str | None,
    params: tuple[str, ...],
    filters: tuple[str, ...],
    output: str,
    show_help: bool,
) -> None:
    """Run the report NAME (e.g. pages, private/events) against the store; without NAME, list them.

    `crumby query NAME --help` lists the report's parameters and filters.
    """
    import json

    from .queries import ParameterError, QueryFailed, TemplateError, find_templates, lookup
    from .queries.output import to_csv, to_table
    from .queries.run import run_report
    from .store.engine import StoreError
    from .store.readonly import QueryTimeout, StoreBusy

    settings = obj.settings
    if show_help:
        click.echo(ctx.get_help())
        if name:
            template = lookup(name, settings)
            if template is None:
                raise click.ClickException(f"no report named {name!r}; `crumby query` lists them")
            click.echo("\n" + _report_help(template))
        return
    if not name:
        for template in find_templates(settings):
            click.echo(f"{template.visibility}/{template.name:<20} {template.title}")
        return
    template = lookup(name, settings)
    if template is None:
        raise click.ClickException(f"no report named {name!r}; `crumby query` lists them")
    raw = {"days": days, "from": from_, "to": to}
    raw = {key: str(value) for key, value in raw.items() if value is not None}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.ClickException(f"--param {item!r}: write it as KEY=VALUE")
        raw[key.strip()] = value
    if filters:
        raw["f"] = list(filters)
    goals = []
    if template.goals:
        from .auth import list_goals

        with _auth_store(obj) as store:
            goals = list_goals(store)
    try:
        result = run_report(template, raw, settings, goals=goals)
    except ParameterError as exc:
        raise click.ClickException(f"{exc}; see the report's parameters with `crumby query`") from None
    except (TemplateError, QueryFailed, QueryTimeout, StoreBusy, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    if output == "json":
        click.echo(json.dumps({"report": template.name, **result.as_dict()}, ensure_ascii=False, indent=1))
    elif output == "csv":
        click.echo(to_csv(result.columns, result.rows), nl=False)
    else:
        click.echo(to_table(result.columns, result.rows))
        note = " (truncated: REPORT_MAX_ROWS)" if result.truncated else ""
        click.echo(
            f"{len(result.rows)} rows, {result.t0:%Y-%m-%d %H:%M} to {result.t1:%Y-%m-%d %H:%M} UTC{note}"
        )


def _report_help(template) -> str:
    """A report's title, description, parameters and filters, for `crumby query NAME --help`."""
    lines = [f"{template.visibility}/{template.name}: {template.title}"]
    if template.description:
        lines.append(click.wrap_text(template.description, initial_indent="  ", subsequent_indent="  "))
    lines.append("\nParameters (--param NAME=VALUE), besides the range (--days, --from, --to):")
    for spec in template.params:
        info = spec.describe()
        default = "required" if info["required"] else f"default {info['default']!r}"
        kind = f"{spec.kind}({'|'.join(spec.choices)})" if spec.choices else spec.kind
        lines.append(f"  {spec.name:<12} {kind}, {default}. {spec.description}".rstrip())
    if not template.params:
        lines.append("  (none)")
    if template.filters:
        from .queries.filters import DIMENSIONS, OPERATORS

        lines.append(f"\nFilters (--filter DIMENSION:OPERATOR:VALUE; operators {', '.join(OPERATORS)}):")
        lines.extend(f"  {n:<12} {DIMENSIONS[n].description}" for n in template.filters)
    else:
        lines.append("\nThis report takes no filters.")
    return "\n".join(lines)


@cli.command("geoip")
@click.argument("source", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--to",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Install here (default: GEOIP2_DATABASE_NAME if set, else DATA_DIR/GeoLite2-City.mmdb).",
)
@click.option(
    "--license-key",
    envvar="MAXMIND_LICENSE_KEY",
    help="MaxMind licence key, to download the database (default: $MAXMIND_LICENSE_KEY).",
)
@click.option("--edition", default="GeoLite2-City", show_default=True, help="MaxMind edition to download.")
@click.option("--download-url", hidden=True, help="Download URL template ({edition}, {key}), for mirrors.")
@pass_context
def geoip_command(
    obj: Context,
    source: Path | None,
    target: Path | None,
    license_key: str | None,
    edition: str,
    download_url: str | None,
) -> None:
    """Install or update the GeoIP City database from SOURCE or from MaxMind.

    SOURCE is a GeoLite2/GeoIP2 City .mmdb file or MaxMind's .tar.gz download.
    Without SOURCE, the database is downloaded from MaxMind with a licence key.
    The file is checked before it replaces the one in place.
    """
    from .etl.enrich.geo_install import MAXMIND_DOWNLOAD_URL, GeoInstallError, update_database

    try:
        installed = update_database(
            obj.settings,
            source,
            target=target,
            license_key=license_key,
            edition=edition,
            download_url=download_url or MAXMIND_DOWNLOAD_URL,
        )
    except GeoInstallError as exc:
        raise click.ClickException(str(exc)) from None
    replaced = f" (replacing {installed.previous})" if installed.previous else ""
    click.echo(f"Installed {installed.build} at {installed.path}{replaced}")
    if installed.in_use:
        click.echo("New loads use it; `crumby etl --reprocess FROM TO` re-locates hits already loaded.")
    else:
        click.echo("The ETL reads another database: to use this one, set")
        click.echo(f"  GEOIP2_DATABASE_NAME = {str(installed.path)!r}   (settings file), or")
        click.echo(f"  export CRUMBY_GEOIP2_DATABASE_NAME={installed.path}")


def _not_yet(name: str, help_text: str, arrives_with: str) -> click.Command:
    """A command whose work arrives in a later release: it says so and exits non-zero."""

    @click.command(
        name,
        help=f"{help_text} (not available in this version)",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def command() -> None:
        raise click.ClickException(
            f"`crumby {name}` is not available in this version of crumby: it arrives with {arrives_with}."
        )

    return command


@cli.command("nginx-config")
@click.option(
    "--js-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder nginx serves cmb.js from (default: DATA_DIR/nginx).",
)
@click.option("--write-js", is_flag=True, help="Also write cmb.js (and cmb.js.gz) into --js-dir.")
@click.option("--server-name", default=None, help="nginx server_name (default: DOMAIN's host, else _).")
@click.option("--listen", default="80", show_default=True, help="nginx listen address or port.")
@click.option(
    "--proxy-count",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Trusted proxies in front of nginx itself (a load balancer adding X-Forwarded-For).",
)
@pass_context
def nginx_config_command(
    obj: Context, js_dir: Path | None, write_js: bool, server_name: str | None, listen: str, proxy_count: int
) -> None:
    """Print an nginx configuration that collects hits itself, with no Python on the tracking path.

    nginx answers /<n>.gif, POST /collect and /cmb.js and appends each hit to
    LOG_DIR; crumby etl checks and loads those lines like the collector's.
    """
    from .serve.nginx_config import render_collector_conf, write_tracker

    settings = obj.settings
    js_dir = js_dir or Path(settings["DATA_DIR"]) / "nginx"
    if server_name is None:
        domain = (settings.get("DOMAIN") or "").split("//")[-1]
        server_name = domain.split("/")[0].rsplit(":", 1)[0] or "_"
    try:
        text = render_collector_conf(
            settings, js_dir=js_dir, server_name=server_name, listen=listen, proxy_count=proxy_count
        )
    except ValueError as exc:
        raise click.ClickException(f"{exc}; fix the setting and run crumby nginx-config again") from None
    if write_js:
        for path in write_tracker(settings, js_dir):
            click.echo(f"wrote {path}", err=True)
    click.echo(text, nl=False)


@cli.command("import")
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["combined", "common", "nginx-json", "apache"]),
    default="combined",
    show_default=True,
    help="Access-log format (apache: Apache's vhost_combined, which names the site).",
)
@click.option("--site", default=None, help="Host of the site the log is of (default: the line's Host field).")
@click.option(
    "--scheme",
    type=click.Choice(["https", "http"]),
    default="https",
    show_default=True,
    help="Scheme of the page URLs made from the log's paths.",
)
@click.option(
    "--follow-state",
    is_flag=True,
    help="Read each log on from where the last import left it, across rotations (for cron).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("-v", "--verbose", is_flag=True, help="Print the summary line even when not on a terminal.")
@pass_context
def import_command(obj: Context, files, fmt, site, scheme, follow_state, quiet, verbose) -> None:
    """Turn access logs (FILE..., gzip too, - for stdin) into page views for crumby etl to load.

    Page views are GET requests of pages answered 2xx or 304; assets, redirects,
    errors and other methods are left out and counted. Lines not in the format
    are set aside in REJECTS_DIR with their line number. Importing the same lines
    again adds nothing. Then run crumby etl.
    """
    from .importer.run import import_logs

    settings = obj.settings
    show_bar = os.isatty(1) and not quiet
    try:
        with contextlib.ExitStack() as stack:
            progress = None
            if show_bar:
                sizes = [os.path.getsize(f) for f in files if f != "-" and os.path.isfile(f)]
                bar = stack.enter_context(
                    click.progressbar(length=sum(sizes) or None, label="crumby import", file=sys.stderr)
                )
                progress = bar.update
            report = import_logs(
                settings, list(files), fmt, site=site, scheme=scheme, follow=follow_state, progress=progress
            )
    except PermissionError as exc:
        raise click.ClickException(
            f"{exc.filename}: this user may not read it; run crumby import as one who may "
            "(Debian: a member of the adm group reads /var/log/nginx)"
        ) from None
    except (ConfigError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if not quiet and (os.isatty(1) or verbose):
        click.echo(report.summary())
        if report.unparseable and report.rejects_file:
            click.echo(f"Unparseable lines, with file:line and reason: {report.rejects_file}")


EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later


@cli.command("etl")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Read, check and enrich what is new, print what would load; write nothing.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("-v", "--verbose", is_flag=True, help="Print the summary line even when not on a terminal.")
@click.option(
    "--fail-if-locked",
    is_flag=True,
    help=f"Exit with status {EXIT_LOCKED} when another run holds the lock (default: say so, exit 0).",
)
@click.option(
    "--reprocess",
    nargs=2,
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="FROM TO",
    help="Enrich the hits of these UTC days (YYYY-MM-DD) again from the raw logs still kept.",
)
@click.option("--batch-bytes", type=click.IntRange(1), default=None, hidden=True)
@pass_context
def etl_command(obj: Context, dry_run, quiet, verbose, fail_if_locked, reprocess, batch_bytes) -> None:
    """Load new raw hits into the store, exactly once; run it from cron.

    Prints one summary line on a terminal (or with -v), with a progress bar;
    silent otherwise, but for errors.
    """
    from .etl.lock import EtlLocked
    from .etl.pipeline import DEFAULT_BATCH_BYTES, StoreError, pending_bytes, run
    from .etl.reprocess import reprocess as reprocess_range
    from .etl.reprocess import reprocess_bytes

    settings = obj.settings
    on_terminal = os.isatty(1)
    show_bar = on_terminal and not quiet
    options = {"batch_bytes": batch_bytes or DEFAULT_BATCH_BYTES}
    try:
        with contextlib.ExitStack() as stack:
            if show_bar:
                if reprocess:
                    total = reprocess_bytes(settings, reprocess[0].date(), reprocess[1].date())
                else:
                    total = pending_bytes(settings)
                bar = stack.enter_context(
                    click.progressbar(length=total, label="crumby etl", file=sys.stderr, show_pos=False)
                )
                options["progress"] = bar.update
            if reprocess:
                report = reprocess_range(settings, reprocess[0].date(), reprocess[1].date(), **options)
            else:
                report = run(settings, dry_run=dry_run, **options)
    except EtlLocked as exc:
        if fail_if_locked:
            click.echo(f"crumby etl: {exc}", err=True)
            sys.exit(EXIT_LOCKED)
        if not quiet:
            click.echo(f"crumby etl: {exc}", err=True)
        return
    except (StoreError, ConfigError, ValueError) as exc:
        # One line, for cron's mail and for log greps, even when a driver's message has several.
        raise click.ClickException(" ".join(str(exc).split())) from None
    except OSError as exc:  # a file or folder crumby needs, gone or not writable
        raise click.ClickException(
            f"{exc.strerror or exc}: {exc.filename or ''}; check that the folders in the settings exist "
            "and crumby may write to them (crumby env lists them)"
        ) from None
    if not quiet and (on_terminal or verbose or dry_run):
        for notice in report.notices:
            click.echo(f"crumby etl: {notice}", err=True)
        click.echo(report.summary())
        if report.rejected and report.rejects_file:
            click.echo(f"Rejected lines, with file:offset and reason: {report.rejects_file}")


def main() -> None:
    cli(prog_name="crumby")
