"""schemathesis against a live server, as a team lead, a labeler and a reader-study participant.

Every operation of the OpenAPI schema gets a bounded number of generated requests (a fixed seed, so every
run sends the same ones). No answer may be a server error, and every answer must match what the schema
documents for it (status, content type and body). The figures are printed for the closing report.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.modeling.conftest import gt_phantom_dir  # noqa: F401 -- fixtures
from tests.readerstudy.conftest import (  # noqa: F401 -- fixtures
    answer_all,
    localise_all,
    model_material,
    read_all,
    rita,
    study,
    truth_cases,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Generated requests per operation, role and mode: valid requests, and requests that break the schema
#: (wrong types, missing fields, bodies of the wrong shape), which must be refused with a 4xx.
EXAMPLES = 8
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CSRF = "schemathesisCSRFtoken0123456789x"  # 32 characters, as Django wants
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@dataclass
class Tally:
    operations: int = 0
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)


def _session(client, user, base_url: str) -> requests.Session:
    client.force_login(user)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    session.cookies.set("csrftoken", CSRF)
    # One connection per request: Django's live test server (not the production server, gunicorn) now and
    # then misreads a kept-alive connection after thousands of fuzzed requests, which would be a test-server
    # fault reported as ours; every answer is still checked for its status, schema and content type.
    session.headers.update({"X-CSRFToken": CSRF, "Referer": base_url + "/", "Connection": "close"})
    return session


def _operation_runner(operation, mode, session: requests.Session, base_url: str, tally: Tally):
    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call(base_url=base_url, session=session, timeout=60)
        tally.requests += 1
        tally.statuses[f"{case.method} {response.status_code}"] += 1
        where = f"{case.method} {case.formatted_path} -> {response.status_code}"
        if response.status_code >= 500:
            tally.server_errors.append(where)
            return
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # every failed check is a finding
            tally.violations.append(f"{where}: {str(exc).splitlines()[0][:200]}")

    return run


def fuzz(client, user, live_server) -> Tally:
    client.force_login(user)
    document = client.get("/api/schema/", {"format": "json"})
    assert document.status_code == 200
    spec = json.loads(document.content)
    # The session cookie is ours to send: without this, schemathesis would generate the documented cookie.
    spec.get("components", {}).pop("securitySchemes", None)
    for methods in spec["paths"].values():
        for operation in methods.values():
            operation.pop("security", None)
    schema = schemathesis.openapi.from_dict(spec)
    session = _session(client, user, live_server.url)
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        tally.operations += 1
        for mode in MODES:
            _operation_runner(operation, mode, session, live_server.url, tally)()
    return tally


def report(role: str, tally: Tally) -> str:
    lines = [
        f"schemathesis as {role}: {tally.operations} operations tested, {tally.requests} requests, "
        f"server errors: {len(tally.server_errors)}, response-schema violations: {len(tally.violations)}"
    ]
    lines.append("  answers: " + ", ".join(f"{k} x{n}" for k, n in sorted(tally.statuses.items())))
    lines += [f"  5xx  {e}" for e in sorted(set(tally.server_errors))[:40]]
    lines += [f"  doc  {v}" for v in sorted(set(tally.violations))[:40]]
    return "\n".join(lines)


@pytest.fixture
def world(study, carol, rita, bob, alice, truth_cases):  # noqa: F811
    """A running reader study (rita finished, carol half-way) and a labeling project bob reads in."""
    from ichweb.labeling import services as labeling

    read_all(study, rita)
    localise_all(study, rita)
    answer_all(study, rita)
    read_all(study, carol, limit=2)
    labeling.create_project(
        lead=alice,
        name="Fuzzed",
        studies=[c.study for c in truth_cases[:2]],
        readers=[bob],
        readers_per_case=1,
    )
    return study


@pytest.mark.parametrize("role", ["alice", "bob", "carol"])
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    role, request, client, world, live_server
):
    user = request.getfixturevalue(role)
    tally = fuzz(client, user, live_server)
    names = {"alice": "lead", "bob": "labeler", "carol": "reader"}
    text = report(f"{names[role]} ({role})", tally)
    print("\n" + text)
    assert tally.operations >= 60 and tally.requests >= tally.operations
    refused_writes = sum(
        n for k, n in tally.statuses.items() if k.endswith(" 403") and not k.startswith("GET")
    )
    writes = sum(n for k, n in tally.statuses.items() if not k.startswith("GET"))
    assert refused_writes < writes, "every write was refused: is the session or the CSRF token wrong?"
    assert not tally.server_errors and not tally.violations, text
