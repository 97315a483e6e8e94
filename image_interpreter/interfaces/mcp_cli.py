"""`image-interpreter mcp [--http --port N]`: serve the editor's tools over MCP.

Also runnable without the entry point: `python -m image_interpreter.interfaces.mcp_cli [--http]`
(settings from IMAGE_INTERPRETER_* variables and the TOML file).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated

import typer

from image_interpreter.cli.common import err_console, settings_from


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp_command)


def mcp_command(
    ctx: typer.Context,
    http: Annotated[
        bool,
        typer.Option(
            "--http/--stdio",
            help="Streamable HTTP at http://HOST:PORT/mcp, or stdio (the default: the client"
            " starts this command and talks on its stdin/stdout).",
        ),
    ] = False,
    port: Annotated[
        int, typer.Option(help="HTTP: port to listen on (0: any free port).", min=0, max=65535)
    ] = 8766,
    host: Annotated[
        str,
        typer.Option(
            help="HTTP: address to listen on. Loopback by default; there is no authentication,"
            " so put a proxy with one in front before listening elsewhere."
        ),
    ] = "127.0.0.1",
    list_sessions: Annotated[
        bool | None,
        typer.Option(
            "--list-sessions/--no-list-sessions",
            help="Offer the list_sessions tool (default: on stdio yes, over HTTP no, since a"
            " session id is the only key to a session).",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each request.")] = False,
) -> None:
    """Serve the editor over the Model Context Protocol, so other agents can drive it.

    The same tools the chat agent uses (extract_priors, describe_priors, apply_edits, generate,
    ...) each take a session_id; start_session, add_photo (base64), say (a chat message) and
    show_image manage sessions. Nothing but the protocol is written to stdout.

    Examples:

      image-interpreter mcp                          # stdio, for a client's config

      image-interpreter --profile tiny mcp --http --port 8766
    """
    import anyio

    from image_interpreter.interfaces.conversation import Conversations
    from image_interpreter.interfaces.mcp_server import EditorMCP, HTTPServer

    logging.basicConfig(  # to stderr: on stdio, stdout is the protocol's
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = settings_from(ctx)
    conversations = Conversations(settings)
    mcp = EditorMCP(
        conversations, list_sessions=(not http) if list_sessions is None else list_sessions
    )
    try:
        if not http:
            anyio.run(mcp.run_stdio)
            return
        server = HTTPServer(mcp, host, port)
        err_console.print(
            f"MCP server (streamable HTTP) on {server.url}; profile {settings.profile}."
            " Ctrl+C stops.",
            highlight=False,
        )
        if host not in ("127.0.0.1", "localhost", "::1"):
            err_console.print(
                "[yellow]Listening beyond loopback with no authentication: anyone who can"
                " reach this port and knows a session id can edit that session.[/]"
            )
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    finally:
        conversations.close()


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(mcp_command)
    app()


if __name__ == "__main__":
    main()
