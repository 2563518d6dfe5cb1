"""``manage.py dicomweb_token create USER [--days N] [--name NAME] | revoke TOKEN | list [USER]``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ichweb.errors import RuleError
from ichweb.interop import tokens
from ichweb.interop.models import ApiToken


class Command(BaseCommand):
    help = (
        "Bearer tokens for DICOMweb (/dicomweb/): create one for a team lead, admin or service account "
        "(the token is printed once), revoke one, or list them."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="make a token for USER and print it once")
        create.add_argument("user", help="user name (role lead, admin or service)")
        create.add_argument("--days", type=int, default=90, help="days until it expires (default 90)")
        create.add_argument("--name", default="", help="what it is for, e.g. 'PACS gateway'")
        revoke = sub.add_parser("revoke", help="revoke a token now")
        revoke.add_argument("token", help="its id, its prefix (as listed) or the whole token")
        listing = sub.add_parser("list", help="list tokens (of USER)")
        listing.add_argument("user", nargs="?", help="only this user's tokens")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except RuleError as exc:
            raise CommandError(str(exc)) from None

    def _create(self, options: dict[str, Any]) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"no user {options['user']!r}: create the account first (admin site)")
        made = tokens.create_token(user, name=options["name"], days=options["days"])
        expires = made.token.expires_at.isoformat() if made.token.expires_at else "never"
        self.stdout.write(f"token {made.token.pk} for {user} (expires {expires}); shown only now:")
        self.stdout.write(made.secret)

    def _revoke(self, options: dict[str, Any]) -> None:
        token = tokens.revoke_token(tokens.find_token(options["token"]))
        self.stdout.write(f"token {token.pk} ({token.prefix}…, {token.user}) revoked at {token.revoked_at}")

    def _list(self, options: dict[str, Any]) -> None:
        rows = ApiToken.objects.select_related("user").order_by("pk")
        if options["user"]:
            rows = rows.filter(user__username=options["user"])
        for token in rows:
            state = "revoked" if token.revoked else "expired" if token.expired else "live"
            used = token.last_used_at.isoformat() if token.last_used_at else "never"
            self.stdout.write(
                f"{token.pk:>5}  {token.prefix}…  {token.user}  {state:<8} {token.name!r}  last used {used}"
            )
