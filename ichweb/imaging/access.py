"""Who may see and import which studies: the one per-object check for imaging.

Leads and admins see every study; labelers see the studies they may label (all, until labeling projects
narrow it to their assignments); reader-study participants get images only through their study, blinded.
"""

from __future__ import annotations

from django.db.models import QuerySet

from ichweb.accounts.roles import MANAGERS, Role, has_role, is_manager
from ichweb.imaging.models import ImportJob, Study

VIEW_ROLES = (*MANAGERS, Role.LABELER)


def visible_studies(user) -> QuerySet[Study]:
    if has_role(user, *VIEW_ROLES):
        return Study.objects.all()
    return Study.objects.none()


def can_import(user) -> bool:
    return is_manager(user)


def visible_jobs(user) -> QuerySet[ImportJob]:
    if is_manager(user):
        return ImportJob.objects.all()
    return ImportJob.objects.filter(created_by=user) if user.is_authenticated else ImportJob.objects.none()
