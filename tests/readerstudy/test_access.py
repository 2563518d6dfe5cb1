"""``ichweb.readerstudy.access``: who reaches a study, and the one rule of whether an answer may change."""

from __future__ import annotations

import pytest

from ichweb.readerstudy import access, services
from ichweb.readerstudy.access import LOCALISATION, QUESTIONNAIRE, READS

pytestmark = pytest.mark.django_db


def test_leads_and_admins_reach_every_study_participants_their_own(
    study, alice, dan, carol, ralph, bob, mallory
):
    for manager in (alice, dan):
        assert list(access.visible_studies(manager)) == [study]
        assert not access.participant_studies(manager).exists()
    assert list(access.visible_studies(carol)) == list(access.participant_studies(carol)) == [study]
    for outsider in (ralph, bob, mallory):
        assert not access.visible_studies(outsider).exists()


def test_the_consensus_is_for_managers_and_the_pair(study, alice, dan, carol, rita, ralph, bob):
    assert [access.can_merge(study, u) for u in (alice, dan, carol, rita)] == [True] * 4
    assert [access.can_merge(study, u) for u in (ralph, bob)] == [False, False]
    study.consensus_first = study.consensus_second = None
    study.save()
    assert not access.can_merge(study, alice)


@pytest.mark.parametrize("changeable", [False, True])
def test_an_answer_may_be_given_until_locked_and_changed_only_where_the_study_allows(
    study, carol, changeable
):
    study.answers_changeable = changeable
    study.save()
    for task in (READS, LOCALISATION, QUESTIONNAIRE):
        assert access.can_change(study, carol, task, submitted=False)
        assert access.can_change(study, carol, task, submitted=True) is changeable
    access.lock(study, carol, READS)
    assert not access.can_change(study, carol, READS, submitted=False)
    assert not access.can_change(study, carol, READS, submitted=True)
    assert access.can_change(study, carol, LOCALISATION, submitted=False)
    why = "opened a later task" if changeable else "locks submitted answers"
    with pytest.raises(access.Conflict, match=why):
        access.require_change(study, carol, READS, "read")


def test_the_editable_flag_is_what_a_write_gets(client, study, carol):
    """The case document's ``editable`` and the answer to a change of the read agree at every stage."""
    client.force_login(carol)
    case = services.ordered_cases(study, carol)[0]
    base = f"/api/v1/reader-studies/{study.pk}"

    def editable() -> bool:
        return client.get(f"{base}/cases/{case.pk}/").json()["editable"]

    def write() -> int:
        body = {"ich": True, "subtypes": [], "confidence": 40}
        return client.put(f"{base}/cases/{case.pk}/read/", body, "application/json").status_code

    assert editable() and write() == 200
    assert not editable() and write() == 409  # submitted, and the study locks submitted answers
    study.answers_changeable = True
    study.save()
    assert editable() and write() == 200
    access.lock(study, carol, READS)  # as opening the localisation task does
    assert not editable() and write() == 409
