from __future__ import annotations

import pytest

from ichweb.imaging.ingest import import_items
from ichweb.imaging.models import Study
from tests.accounts.factories import UserFactory
from tests.imaging.conftest import phantom_dir  # noqa: F401 -- the session-wide phantom fixture
from tests.labeling.factories import ProjectFactory


@pytest.fixture
def barbara(db):
    """barbara, a second labeler."""
    return UserFactory(username="barbara", roles=("labeler",))


@pytest.fixture
def erin(db):
    """erin, a labeler who adjudicates."""
    return UserFactory(username="erin", roles=("labeler",))


@pytest.fixture
def studies(phantom_dir, db):  # noqa: F811
    import_items([("phantoms", phantom_dir)])
    return list(Study.objects.order_by("pk"))


@pytest.fixture
def consensus_project(alice, bob, barbara, studies):
    return ProjectFactory(lead=alice, name="Consensus", studies=studies, readers=[bob, barbara])


@pytest.fixture
def adjudication_project(alice, bob, barbara, erin, studies):
    return ProjectFactory(
        lead=alice,
        name="Prospective",
        studies=studies[:1],
        readers=[bob, barbara],
        mode="adjudication",
        adjudicators=[erin],
    )
