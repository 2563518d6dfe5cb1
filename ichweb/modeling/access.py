"""Who may see model output: the one per-object check of the modeling room.

Leads and admins see every prediction. A labeler sees a series' predictions only once they have submitted
their own read of it (model output must not steer an independent read). Reader-study participants never
see them here: a reader study shows what it shows through its own blinded routes.
"""

from __future__ import annotations

from django.db.models import QuerySet

from ichweb.accounts.roles import Role, has_role
from ichweb.imaging.models import Series
from ichweb.labeling.models import Read

MANAGE_ROLES = (Role.LEAD, Role.ADMIN)


def can_manage(user) -> bool:
    """Start and cancel runs, activate models, request inference."""
    return has_role(user, *MANAGE_ROLES)


def reviewable_series(user) -> QuerySet[Series]:
    if has_role(user, *MANAGE_ROLES):
        return Series.objects.all()
    if has_role(user, Role.LABELER):
        submitted = Read.objects.filter(reader=user, status=Read.Status.SUBMITTED).values("case__series_id")
        return Series.objects.filter(pk__in=submitted)
    return Series.objects.none()


def can_review(user, series: Series) -> bool:
    return reviewable_series(user).filter(pk=series.pk).exists()
