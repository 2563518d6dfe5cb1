"""The roles of ICHweb (four for people, one for machines), stored as Django groups that admins manage in
the admin site."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models


class Role(models.TextChoices):
    LABELER = "labeler", "Labeler"
    READER = "reader", "Reader-study participant"
    LEAD = "lead", "Team lead"
    ADMIN = "admin", "Administrator"
    #: A PACS gateway or a script calling DICOMweb with a token (ichweb.interop); no page of its own.
    SERVICE = "service", "Service account"


#: Where each role's work starts, in the order a user with several roles is sent (a service account has none).
ROLE_HOME: dict[str, str] = {
    Role.LEAD: "analytics:dashboard",
    Role.LABELER: "labeling:queue",
    Role.READER: "readerstudy:studies",
    Role.ADMIN: "admin:index",
}


def roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """The role codes of a user; superusers hold every role. Cached on the user object per request."""
    if not user.is_authenticated:
        return set()
    cached: set[str] | None = getattr(user, "_ichweb_roles", None)
    if cached is None:
        if getattr(user, "is_superuser", False):
            cached = set(Role.values)
        else:
            # AbstractBaseUser declares no `groups`; auth.User, the project's user, has it (PermissionsMixin).
            names = user.groups.values_list("name", flat=True)  # type: ignore[attr-defined]  # see above
            cached = {name for name in names if name in Role.values}
        user._ichweb_roles = cached  # type: ignore[attr-defined]  # per-request cache attribute on the instance
    return cached


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    """Whether ``user`` holds at least one of ``roles``."""
    return bool(roles_of(user) & set(roles))


#: Team leads and admins: they manage projects, training runs, models and reader studies and see all.
MANAGERS: tuple[str, ...] = (Role.LEAD, Role.ADMIN)


def is_manager(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether ``user`` is a team lead or an admin (``MANAGERS``)."""
    return has_role(user, *MANAGERS)
