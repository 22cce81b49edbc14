from __future__ import annotations

import sys

import click
from flask import Flask

from app.auth.services import create_user
from app.errors import ApiError


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _create(username: str, role: str, password_stdin: bool, email: str | None) -> None:
    try:
        user = create_user(username, _read_password(password_stdin), role=role, email=email)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created {role} {user.username!r} (id {user.id}).")


def register_cli(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.argument("username")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    @click.option("--email", default=None)
    def create_admin(username: str, password_stdin: bool, email: str | None) -> None:
        """Create an administrator account."""
        _create(username, "admin", password_stdin, email)

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    @click.option("--email", default=None)
    @click.option("--admin", is_flag=True, help="Give the user the admin role.")
    def create_user_cmd(username: str, password_stdin: bool, email: str | None, admin: bool) -> None:
        """Create a user account."""
        _create(username, "admin" if admin else "user", password_stdin, email)
