"""Who may see model output: the one per-object check of the modeling room.

Leads and admins see every prediction. A labeler sees a series' predictions only once they have submitted
their own read of it (model output must not steer an independent read). Reader-study participants never
see them here: a reader study shows what it shows through its own blinded routes.

Atlas exemplars are patches of training slices, and their label is that slice's ground truth, so an exemplar
is ground truth of another series. The rule (docs/blinding.md):

* only leads and admins learn an exemplar's source series and slice;
* a labeler is shown an exemplar only when its source series is one they have finished reading (every read
  of theirs on it submitted) - never one with an open read of theirs, never one they have not read (it may
  become theirs to read in a later project), never one whose source is unknown.
"""

from __future__ import annotations

from django.db.models import QuerySet

from ichweb.accounts.roles import Role, has_role, is_manager
from ichweb.imaging.models import Series
from ichweb.labeling.models import Read
from ichweb.modeling.models import AtlasEntry


def can_manage(user) -> bool:
    """Start and cancel runs, activate models, request inference."""
    return is_manager(user)


def reviewable_series(user) -> QuerySet[Series]:
    if is_manager(user):
        return Series.objects.all()
    if has_role(user, Role.LABELER):
        submitted = Read.objects.filter(reader=user, status=Read.Status.SUBMITTED).values("case__series_id")
        return Series.objects.filter(pk__in=submitted)
    return Series.objects.none()


def can_review(user, series: Series) -> bool:
    return reviewable_series(user).filter(pk=series.pk).exists()


def sees_exemplar_sources(user) -> bool:
    """Whether ``user`` may learn which series and slice an atlas exemplar was cut from."""
    return is_manager(user)


def finished_series(user) -> QuerySet[Series]:
    """Series ``user`` has read and submitted, with no read of theirs on it still open."""
    mine = Read.objects.filter(reader=user)
    open_series = mine.exclude(status=Read.Status.SUBMITTED).values("case__series_id")
    submitted = mine.filter(status=Read.Status.SUBMITTED).values("case__series_id")
    return Series.objects.filter(pk__in=submitted).exclude(pk__in=open_series)


def visible_exemplars(user) -> QuerySet[AtlasEntry]:
    """The atlas entries ``user`` may be shown (see the module's rule)."""
    if is_manager(user):
        return AtlasEntry.objects.all()
    if has_role(user, Role.LABELER):
        return AtlasEntry.objects.filter(source_series__in=finished_series(user))
    return AtlasEntry.objects.none()
