"""Who may use DICOMweb: team leads, admins and service accounts; never labelers or reader-study participants.

DICOMweb hands out whole de-identified studies without the per-project narrowing of the labeling queue or the
blinding of reader studies, so only the roles that see every study already may use it (docs/interop.md).
"""

from __future__ import annotations

from typing import Any

from ichweb.accounts.roles import MANAGERS, Role, has_role

DICOMWEB_ROLES: tuple[str, ...] = (*MANAGERS, Role.SERVICE)

DENIED = "DICOMweb is for team leads, admins and service accounts; your role does not include it."


def may_use_dicomweb(user: Any) -> bool:
    """Whether ``user`` (logged in or holding a token) may call /dicomweb/."""
    return bool(user is not None and user.is_authenticated and has_role(user, *DICOMWEB_ROLES))
