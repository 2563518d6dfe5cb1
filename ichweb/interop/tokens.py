"""Bearer tokens of DICOMweb clients: made, checked and revoked here only.

A token is ``ichw_`` and 43 random URL-safe characters; the database keeps its SHA-256 digest (a token
carries 256 bits, so a plain digest suffices: no salt or slow hash is needed against guessing).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ichweb.errors import Conflict, Missing, RuleError
from ichweb.interop.access import DICOMWEB_ROLES, may_use_dicomweb
from ichweb.interop.models import ApiToken

TOKEN_PREFIX = "ichw_"  # noqa: S105 -- a marker that tells tokens apart, not a secret
#: ``last_used_at`` is written at most this often per token (not on every request).
TOUCH_EVERY = timedelta(minutes=1)
MAX_DAYS = 3650


class TokenRefused(Exception):
    """A bearer token that does not let its caller in; the message says why and what to do (HTTP 401)."""


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``secret`` is shown once and never stored."""

    token: ApiToken
    secret: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(user: Any, *, name: str, days: int, created_by: Any = None) -> NewToken:
    """A new token for ``user`` valid ``days`` days (1..3650).

    Raises:
        RuleError: ``user`` holds no role that may call DICOMweb, or ``days`` is out of range.
    """
    if not may_use_dicomweb(user):
        roles = ", ".join(DICOMWEB_ROLES)
        raise RuleError(f"{user} holds none of the roles {roles}: give them one first", field="user")
    if not 1 <= days <= MAX_DAYS:
        raise RuleError(f"days must lie between 1 and {MAX_DAYS}", field="days")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100] or "DICOMweb",
        key_hash=digest(secret),
        prefix=secret[:12],
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=days),
    )
    return NewToken(token, secret)


def find_token(ref: str) -> ApiToken:
    """The token named by its id, its prefix (or the start of it) or its whole secret.

    Raises:
        Missing: no token matches.
        Conflict: the prefix matches more than one token.
    """
    ref = ref.strip()
    if ref.isdigit():
        query = Q(pk=int(ref))
    elif len(ref) > 16:  # the whole secret
        query = Q(key_hash=digest(ref))
    else:
        query = Q(prefix__startswith=ref) if ref else Q(pk__in=[])
    found = list(ApiToken.objects.filter(query)[:2])
    if not found:
        raise Missing(f"no token {ref!r}: give its id or its prefix as `dicomweb_token list` shows them")
    if len(found) > 1:
        raise Conflict(f"{ref!r} names more than one token: give its id")
    return found[0]


def revoke_token(token: ApiToken) -> ApiToken:
    """Revoke ``token`` now (a revoked token stays listed, for the audit)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def authenticate(secret: str) -> ApiToken:
    """The live token with this secret, its user loaded; notes when it was last used.

    Raises:
        TokenRefused: unknown, expired or revoked token, or a deactivated user.
    """
    token = ApiToken.objects.select_related("user").filter(key_hash=digest(secret.strip())).first()
    if token is None:
        raise TokenRefused(
            "unknown bearer token: ask an administrator for a token (manage.py dicomweb_token)"
        )
    if token.revoked:
        raise TokenRefused(f"token {token.prefix}… was revoked: ask an administrator for a new one")
    if token.expired:
        raise TokenRefused(f"token {token.prefix}… expired: ask an administrator for a new one")
    if not token.user.is_active:
        raise TokenRefused(f"the account of token {token.prefix}… is deactivated")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
