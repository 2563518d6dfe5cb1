"""Demo users, one per role, with passwords printed; development only. Later rooms add demo data here."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.module_loading import import_string

from ichweb.accounts.roles import Role

#: user name -> roles. Names carry their role, as in the permission tests.
DEMO_USERS: dict[str, tuple[str, ...]] = {
    "alice": (Role.LEAD,),
    "bob": (Role.LABELER,),
    "barbara": (Role.LABELER,),
    "carol": (Role.READER,),
    "admin": (Role.ADMIN,),
}
#: Demo data of each room, in data-flow order: dotted paths of callables taking the command's stdout.
DEMO_STEPS: list[str] = [
    "ichweb.imaging.demo.seed",
    "ichweb.labeling.demo.seed",
    "ichweb.modeling.demo.seed",
    "ichweb.readerstudy.demo.seed",
]


class Command(BaseCommand):
    help = "Create demo users for each role (DEBUG and ICHWEB_DEMO only) and print their passwords."

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.DEBUG and settings.DEMO_MODE):
            raise CommandError(
                "seed_demo runs only with DEBUG=true and ICHWEB_DEMO=true (a development machine)."
            )
        store = Path(settings.VAR_DIR) / "demo-logins.json"
        passwords: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
        user_model = get_user_model()
        with transaction.atomic():
            for name, roles in DEMO_USERS.items():
                password = passwords.setdefault(name, secrets.token_urlsafe(9))
                user, _ = user_model.objects.get_or_create(
                    username=name, defaults={"email": f"{name}@example.org"}
                )
                user.set_password(password)
                user.is_staff = user.is_superuser = Role.ADMIN in roles
                user.save()
                user.groups.set(Group.objects.filter(name__in=roles))
        store.write_text(json.dumps(passwords, indent=2))
        store.chmod(0o600)
        self.stdout.write(self.style.SUCCESS("Demo logins (development only):"))
        for name, roles in DEMO_USERS.items():
            self.stdout.write(f"  {name:<8} {passwords[name]:<14} {', '.join(Role(r).label for r in roles)}")
        for step in DEMO_STEPS:
            import_string(step)(self.stdout)
