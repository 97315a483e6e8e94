"""`image-interpreter slack --socket | --http --port N`: run the Slack bot."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from image_interpreter.cli.common import console, settings_from


def register(app: typer.Typer) -> None:
    app.command("slack")(slack_command)


def slack_command(
    ctx: typer.Context,
    socket: Annotated[
        bool,
        typer.Option(
            "--socket/--http",
            help="Socket Mode (SLACK_APP_TOKEN; no public URL) or HTTP mode (SLACK_SIGNING_SECRET;"
            " Slack POSTs to https://<your host>/slack/events).",
        ),
    ] = True,
    port: Annotated[
        int, typer.Option(help="HTTP mode: port to listen on.", min=0, max=65535)
    ] = 3000,
    host: Annotated[
        str, typer.Option(help="HTTP mode: address to listen on (behind an HTTPS proxy).")
    ] = "127.0.0.1",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each request.")] = False,
) -> None:
    """Run the Slack bot: each thread is an editing session.

    Tokens come from SLACK_BOT_TOKEN, plus SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET
    (HTTP mode); SLACK_COMMAND names the slash command (default /imagine). See the README's
    "Slack bot" section for creating the app.

    Example: image-interpreter --profile tiny slack --http --port 3000
    """
    from image_interpreter.interfaces.conversation import Conversations
    from image_interpreter.interfaces.slack import (
        SlackBot,
        SlackConfig,
        serve_http,
        socket_handler,
    )

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    mode = "socket" if socket else "http"
    config = SlackConfig.from_env(mode)  # before anything loads: a missing token fails fast
    settings = settings_from(ctx)
    conversations = Conversations(settings)
    bot = SlackBot(conversations, config, mode=mode)
    if socket:
        console.print(f"Slack bot in Socket Mode; slash command {config.command}. Ctrl+C stops.")
        socket_handler(bot).start()
        return
    server = serve_http(bot, host, port)
    where = f"http://{host}:{server.server_address[1]}/slack/events"
    console.print(f"Slack bot listening on {where}; slash command {config.command}. Ctrl+C stops.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
