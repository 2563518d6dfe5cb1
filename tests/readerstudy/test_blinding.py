"""The blinding probe: a participant calls every route of the site (the URL resolver, enumerated) with the
real ids of objects that exist, and no answer carries model output, ground truth, another participant's
answers or a clinical identifier.

Model output, ground truth and the other participant's answers are made distinctive (sentinel numbers,
texts and images) so that they can be searched for in every body and header. Exceptions, by design: once
the localisation task is finished the questionnaire routes show their own material (the overlay and the
candidate exemplars, never distances or ranks), the consensus routes show the consensus partner's
points, and the aided arm of a case whose aided read is open shows the model's output on that case.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from django.db.models import Model
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from ichweb.imaging.models import ImportJob, Series, Slice, Study
from ichweb.labeling.models import BleedingPoint, GroundTruth, Project, Read
from ichweb.labeling.models import Case as LabelingCase
from ichweb.modeling.models import AtlasEntry, AttentionMap, InferenceJob, ModelVersion, TrainingRun
from ichweb.readerstudy import consensus, plan, services
from ichweb.readerstudy.models import CaseRead, LocalisationItem, ReaderStudy, StudyCase
from ichweb.readerstudy.mrmc_results import PANELS
from ichweb.readerstudy.views import TASKS
from tests.readerstudy.conftest import SENTINEL_NUMBERS, answer_all, localise_all, read_all, read_both

pytestmark = pytest.mark.django_db

#: The model whose rows a route's ``pk`` names, by route name (longest prefix wins).
PK_MODELS: dict[str, type[Model]] = {
    "study": Study,
    "importjob": ImportJob,
    "series": Series,
    "slice": Slice,
    "read": Read,
    "labelingproject": Project,
    "trainingrun": TrainingRun,
    "modelversion": ModelVersion,
    "inferencejob": InferenceJob,
    "review": Series,
    "attentionmap": AttentionMap,
    "atlasentry": AtlasEntry,
    "readerstudy": ReaderStudy,
    "readerstudy-case": StudyCase,
    "readerstudy-aided-case": StudyCase,
    "readerstudy-localisation": LocalisationItem,
    "readerstudy-questionnaire": LocalisationItem,
    "readerstudy-consensus": LocalisationItem,
    "readerstudy:": ReaderStudy,
    "imaging:": Study,
    "imaging:import-job": ImportJob,
    "labeling:read": Read,
    "labeling:project": Project,
    "labeling:consensus": Project,
    "modeling:run": TrainingRun,
    "modeling:version": ModelVersion,
}
#: JSON keys that carry model output or ground truth.
FORBIDDEN_KEYS = ("probab", "distance", "threshold", "basis", "attention", "truth", "rank", "positive")
#: Routes that describe the API (the schema names fields of every room) but carry no data.
SCHEMA_ROUTES = ("schema", "api-docs")
OTHER_POINTS = [[41.7, 23.3], [13.9, 47.1]]
OTHER_CONFIDENCE, OWN_CONFIDENCE = 97, 12


@dataclass
class Probe:
    """Ids to call routes with and what must never come back."""

    values: dict[str, list[Any]]
    texts: list[str]
    patterns: list[re.Pattern[str]]
    #: The patterns that find the consensus partner's points (shown on the consensus routes).
    partner_points: list[re.Pattern[str]]
    images: tuple[bytes, ...]
    #: The model's numbers: shown only on the aided routes of a case whose aided read is open.
    model_texts: list[str] = field(default_factory=list)
    calls: int = 0
    ok: dict[str, int] = field(default_factory=dict)
    allowed_hits: int = 0
    errors: list[str] = field(default_factory=list)


def routes() -> Iterator[tuple[str, tuple[str, ...]]]:
    """Every named route: ``(name with namespace, its parameters)``, each once."""
    seen: set[tuple[str, tuple[str, ...]]] = set()

    def walk(
        patterns: list[Any], namespace: str, params: tuple[str, ...]
    ) -> Iterator[tuple[str, tuple[str, ...]]]:
        for p in patterns:
            own = tuple(p.pattern.regex.groupindex)
            if isinstance(p, URLResolver):
                ns = ":".join(filter(None, [namespace, p.namespace or ""]))
                yield from walk(p.url_patterns, ns, params + own)
            elif isinstance(p, URLPattern) and p.name:
                key = (f"{namespace}:{p.name}" if namespace else p.name, tuple(sorted(params + own)))
                if key not in seen:
                    seen.add(key)
                    yield key

    yield from walk(get_resolver().url_patterns, "", ())


def pk_values(name: str, probe: Probe) -> list[Any]:
    matches = [prefix for prefix in PK_MODELS if name.startswith(prefix)]
    if not matches:  # a route the probe does not know yet: every id of every object
        return sorted({v for values in probe.values.values() for v in values if isinstance(v, int)})
    model = PK_MODELS[max(matches, key=len)]
    return list(model.objects.order_by("pk").values_list("pk", flat=True))


def urls(probe: Probe) -> Iterator[tuple[str, str]]:
    for name, params in routes():
        if name.startswith("admin:") and name != "admin:index":
            continue  # the admin site answers staff only (admin:index shows it redirects)
        choices = []
        for param in params:
            if param == "pk":
                choices.append(pk_values(name, probe))
            elif param in probe.values:
                choices.append(probe.values[param])
            else:
                choices.append(pk_values("?", probe))
        for combo in itertools.product(*choices):
            yield name, reverse(name, kwargs=dict(zip(params, combo, strict=True)))


def json_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from json_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from json_keys(inner)


def leaks(
    name: str,
    response: Any,
    probe: Probe,
    allow_material: bool,
    allow_partner: bool,
    allow_model: bool = False,
) -> list[str]:
    """What ``response`` shows that it must not; ``allow_model``: the model's numbers and keys (an open
    aided read), besides its images (``allow_material``)."""
    found = []
    headers = json.dumps(dict(response.headers))
    body = response.content if hasattr(response, "content") else b"".join(response.streaming_content)
    if body in probe.images:
        if allow_material:
            probe.allowed_hits += 1
        else:
            found.append("a model-output image")
    text = headers + body.decode("utf-8", errors="replace")
    texts = probe.texts if allow_model else [*probe.texts, *probe.model_texts]
    found += [f"text {t!r}" for t in texts if t in text]
    for pattern in probe.patterns:
        if pattern.search(text) and not (allow_partner and pattern in probe.partner_points):
            found.append(f"pattern {pattern.pattern!r}")
    if "json" in response.get("Content-Type", "") and name not in SCHEMA_ROUTES and not allow_model:
        keys = {k.lower() for k in json_keys(json.loads(body or b"null"))}
        found += [f"key {k!r}" for k in keys if any(bad in k for bad in FORBIDDEN_KEYS)]
    return found


AIDED_URL = re.compile(r"/reader-studies/\d+/aided-cases/(\d+)(?:/|$)")


def run_probe(
    client,
    probe: Probe,
    *,
    gate_open: bool,
    skip: tuple[str, ...] = (),
    open_aided: frozenset[int] = frozenset(),
    only: str = "",
    statuses: dict[str, int] | None = None,
) -> list[str]:
    """Every route (but those whose names start with one of ``skip``; only those starting with ``only``); the
    leaks found. The aided routes of the cases in ``open_aided`` may show the model's output on the case.
    ``statuses`` collects each URL's status."""
    problems = []
    client.raise_request_exception = False  # another room's crash is no leak; ours are reported below
    for name, url in urls(probe):
        if (name.startswith(skip) if skip else False) or not name.startswith(only):
            continue
        response = client.get(url)
        if statuses is not None:
            statuses[url] = response.status_code
        probe.calls += 1
        if response.status_code >= 500:
            probe.errors.append(url)
            if name.startswith("readerstudy"):
                problems.append(f"{url}: HTTP {response.status_code}")
        if response.status_code == 200:
            probe.ok[name] = probe.ok.get(name, 0) + 1
        task = url.rstrip("/").rsplit("/", 1)[-1]
        material = gate_open and name.startswith("readerstudy-questionnaire")
        partner = gate_open and (name.startswith("readerstudy-consensus") or task == "consensus")
        aided = AIDED_URL.search(url)
        model = aided is not None and int(aided.group(1)) in open_aided
        found = leaks(name, response, probe, material or model, partner, allow_model=model)
        problems += [f"{url}: {leak}" for leak in found]
    return problems


@pytest.fixture
def probe(study, model_material, carol, rita, alice) -> Probe:
    """The world the probe runs in: rita finished everything, with answers only she gave."""
    read_all(study, rita, confidence=OTHER_CONFIDENCE)
    return make_probe(study, model_material, rita)


def make_probe(study: ReaderStudy, model_material, rita, *, rita_finished: bool = True) -> Probe:
    """Sentinel texts everywhere; rita (her case reads done) localises and answers with answers of her own."""
    Study.objects.update(description="SENTINEL study description", study_date=date(1999, 12, 31))
    Series.objects.update(description="SENTINEL series description")
    GroundTruth.objects.update(note="SENTINEL truth note")
    if rita_finished:
        localise_all(study, rita, OTHER_POINTS)
        answer_all(study, rita)
    BleedingPoint.objects.create(
        read=Read.objects.first(), slice=Slice.objects.first(), x=41.7, y=23.3, subtype="IPH"
    )
    texts = ["SENTINEL", "1999-12-31", "Sentinel model"]
    for study_row in Study.objects.all():
        texts += [study_row.study_uid, study_row.patient_pseudo_id]
        texts += [study_row.accession_pseudo] if study_row.accession_pseudo else []
    texts += list(Series.objects.values_list("series_uid", flat=True))
    texts += list(Slice.objects.values_list("sop_instance_uid", flat=True))
    values = {
        "study_id": [study.pk],
        "index": [0, 5],
        "letter": list("abcd"),
        "kind": ["patch", "map"],
        "task": list(TASKS),
        "format": ["json"],
        "case_id": list(LabelingCase.objects.values_list("pk", flat=True)),
        "series_id": list(Series.objects.values_list("pk", flat=True)),
        "point_id": [*BleedingPoint.objects.values_list("pk", flat=True), uuid.uuid4()],
        "number": [1, 2],
        "panel": list(PANELS),
    }
    points = [re.compile(rf"{x}\s*,\s*{y}".replace(".", r"\.")) for x, y in OTHER_POINTS]
    patterns = [*points, re.compile(rf'"confidence"\s*:\s*{OTHER_CONFIDENCE}\b')]
    return Probe(
        values,
        texts,
        patterns,
        points,
        images=model_material.images,
        model_texts=list(map(str, SENTINEL_NUMBERS)),
    )


def test_nothing_leaks_to_a_participant_in_the_middle_of_the_study(client, study, probe, carol):
    read_all(study, carol, confidence=OWN_CONFIDENCE, limit=3)
    client.force_login(carol)
    problems = run_probe(client, probe, gate_open=False)
    assert problems == []
    assert probe.calls > 200
    # The probe reached the participant's own material: the study, its cases and their pixels.
    assert probe.ok["readerstudy-case-image"] >= 6 and probe.ok["readerstudy-case-detail"] == 6
    assert (
        "readerstudy-questionnaire-overlay" not in probe.ok and "readerstudy-consensus-list" not in probe.ok
    )
    assert "attentionmap-overlay" not in probe.ok and "review-detail" not in probe.ok
    assert probe.allowed_hits == 0


def test_after_the_gate_only_the_questionnaire_shows_its_material(client, study, probe, carol, alice):
    read_all(study, carol, confidence=OWN_CONFIDENCE)
    localise_all(study, carol)
    answer_all(study, carol)
    for item in study.items.all():
        consensus.record_reference(item, alice, OTHER_POINTS)
    client.force_login(carol)
    problems = run_probe(client, probe, gate_open=True)
    assert problems == []
    n_items = LocalisationItem.objects.count()
    assert probe.ok["readerstudy-questionnaire-overlay"] == n_items
    assert probe.ok["readerstudy-questionnaire-option"] == n_items * 4 * 2
    assert probe.ok["readerstudy-consensus-detail"] == n_items
    assert probe.allowed_hits >= probe.ok["readerstudy-questionnaire-option"]
    assert CaseRead.objects.filter(participant=carol, confidence=OWN_CONFIDENCE).count() == 6


def test_the_probe_catches_a_leak(client, study, probe, carol, settings):
    """The detector itself: model output on a participant's route is found."""
    from ichweb.readerstudy import participant_api

    read_all(study, carol, confidence=OWN_CONFIDENCE, limit=3)
    client.force_login(carol)
    original = participant_api.CaseViewSet.document

    def leaky(self, case):
        job = InferenceJob.objects.get(series=case.series)
        return {**original(self, case), "hint": job.case_probabilities}

    participant_api.CaseViewSet.document = leaky
    try:
        case = services.ordered_cases(study, carol)[0]
        response = client.get(f"/api/v1/reader-studies/{study.pk}/cases/{case.pk}/")
        found = leaks("readerstudy-case-detail", response, probe, False, False)
    finally:
        participant_api.CaseViewSet.document = original
    assert any("0.864213" in f for f in found)


# --- the aided arm: the model's output only on the aided routes of a case whose aided read is open -------


def _aided_statuses(statuses: dict[str, int], cases: set[int]) -> dict[str, set[int]]:
    """The answers of the aided routes of ``cases``, by route kind (detail, image, overlay, ...)."""
    found: dict[str, set[int]] = {}
    for url, code in statuses.items():
        match = AIDED_URL.search(url)
        if match and int(match.group(1)) in cases:
            kind = url[match.end() :].split("/")[0] or "detail"
            found.setdefault(kind, set()).add(code)
    return found


def test_the_aided_arm_shows_the_model_only_where_its_read_is_open(
    client, sequential_study, model_material, carol, rita, ralph
):
    """carol has submitted three unaided reads: the walk opens those cases' aided reads (it calls every
    route) and finds the model's output there only; every other route, the unaided arm included, is blind."""
    study = sequential_study
    read_both(
        study, rita, unaided=lambda c: (True, OTHER_CONFIDENCE), aided=lambda c: (True, OTHER_CONFIDENCE)
    )
    probe = make_probe(study, model_material, rita)
    order = services.ordered_cases(study, carol)
    for case in order[:3]:
        services.submit_read(case, carol, ich=True, subtypes=[], confidence=OWN_CONFIDENCE)
    opened, closed = {c.pk for c in order[:3]}, {c.pk for c in order[3:]}
    client.force_login(carol)
    statuses: dict[str, int] = {}
    assert run_probe(client, probe, gate_open=False, open_aided=frozenset(opened), statuses=statuses) == []
    assert probe.ok["readerstudy-aided-case-detail"] == 3 and probe.ok["readerstudy-case-detail"] == 6
    assert probe.ok["readerstudy-aided-case-overlay"] == 3  # slice 5 of each opened case (slice 0: none)
    assert probe.ok["readerstudy-aided-case-exemplar"] == 3 * 2 * 2
    assert probe.allowed_hits >= 3 * (1 + 4)  # each opened case's overlay and exemplar images
    assert _aided_statuses(statuses, closed) == {k: {409} for k in ("detail", "slices", "exemplars")} | {
        "read": {405},
        "heartbeat": {405},
    }
    # The walk opened three aided reads: their unaided answers can no longer change.
    for case in order[:3]:
        body = {"ich": False, "subtypes": [], "confidence": 1}
        assert client.put(api(study, "cases", case.pk, "read"), body, "application/json").status_code == 409
    assert CaseRead.objects.filter(participant=carol, modality="aided", opened_at__isnull=False).count() == 3

    # Another reader of the site reaches no aided route of the study at all.
    client.force_login(ralph)
    statuses.clear()
    assert run_probe(client, probe, gate_open=False, only="readerstudy-aided-case", statuses=statuses) == []
    assert statuses and set(statuses.values()) <= {404, 405}


def test_the_crossover_arms_follow_the_session(client, crossover_study, model_material, carol, rita):
    """In session 1 only the aided routes of carol's aided half show the model; the cases of her unaided half
    have no open aided read (409), and neither has the unaided arm of her aided half (session 2)."""
    for p in plan.session_plan(crossover_study, rita, 1):  # rita's own session-1 answers
        services.submit_read(
            p.case, rita, ich=True, subtypes=[], confidence=OTHER_CONFIDENCE, modality=p.modality
        )
    probe = make_probe(crossover_study, model_material, rita, rita_finished=False)
    first = plan.session_plan(crossover_study, carol, 1)
    aided = {p.case.pk for p in first if p.modality == "aided"}
    unaided = {p.case.pk for p in first if p.modality == "unaided"}
    client.force_login(carol)
    statuses: dict[str, int] = {}
    assert (
        run_probe(
            client, probe, gate_open=False, only="readerstudy", open_aided=frozenset(aided), statuses=statuses
        )
        == []
    )
    assert _aided_statuses(statuses, unaided)["detail"] == {409}
    assert _aided_statuses(statuses, aided)["detail"] == {200}
    later = [
        code for url, code in statuses.items() if re.search(rf"/cases/({'|'.join(map(str, aided))})$", url)
    ]
    assert later and set(later) == {409}
    assert probe.allowed_hits >= len(aided)


# --- the workflow probe: reads -> localisation -> consensus -> questionnaire, answers changeable ----------


def api(study: ReaderStudy, task: str, *rest: object) -> str:
    return "/".join([f"/api/v1/reader-studies/{study.pk}/{task}", *map(str, rest)]) + "/"


def test_the_workflow_with_changeable_answers_locks_each_task_when_the_next_reveals_more(
    client, study, probe, carol
):
    """Each stage is walked over every route; a stage that reveals more locks the answers before it."""
    study.answers_changeable = True
    study.save()
    client.force_login(carol)
    cases = services.ordered_cases(study, carol)
    for case in cases:
        body = {"ich": True, "subtypes": ["IPH"], "confidence": OWN_CONFIDENCE}
        assert client.put(api(study, "cases", case.pk, "read"), body, "application/json").status_code == 200
    change = {"ich": False, "subtypes": [], "confidence": 50}
    # Still in the reading task: a read may change.
    assert client.put(api(study, "cases", cases[0].pk, "read"), change, "application/json").status_code == 200
    assert run_probe(client, probe, gate_open=False) == []

    # Opening the localisation task (its slices are the model-positive ICH cases) locks every read.
    items = client.get(api(study, "localisation")).json()["results"]
    assert items
    locked = client.put(api(study, "cases", cases[1].pk, "read"), change, "application/json")
    assert locked.status_code == 409, "a case read changed after the localisation task was opened"
    assert client.get(api(study, "cases", cases[1].pk)).json()["editable"] is False
    assert CaseRead.objects.get(case=cases[1], participant=carol).ich is True

    # Every slice marked, the points still changeable: the partner's points stay hidden (the consensus
    # waits), and the walk finds them nowhere (it leaves out the questionnaire: opening it would lock).
    for row in items:
        marked = client.put(api(study, "localisation", row["id"]), {"points": [[30, 30]]}, "application/json")
        assert marked.status_code == 200
    assert client.get(api(study, "consensus")).status_code == 409
    assert client.get(api(study, "consensus", items[0]["id"])).status_code == 409
    assert run_probe(client, probe, gate_open=False, skip=("readerstudy-questionnaire",)) == []
    moved = client.put(api(study, "localisation", items[0]["id"]), {"points": [[31, 31]]}, "application/json")
    assert moved.status_code == 200

    # Finishing the localisation makes the points final; only then does the consensus open.
    assert client.post(api(study, "localisation", "finish")).status_code == 200
    frozen = client.put(api(study, "localisation", items[0]["id"]), {"points": [[5, 5]]}, "application/json")
    assert frozen.status_code == 409
    assert client.get(api(study, "consensus", items[0]["id"])).status_code == 200

    # The questionnaire (attention maps) opens; the walk allows only its own material and the partner's points
    # on the consensus routes.
    answer_all(study, carol)
    assert run_probe(client, probe, gate_open=True) == []
    assert CaseRead.objects.filter(participant=carol, ich=True).count() == len(cases) - 1


def test_opening_the_questionnaire_locks_the_localisation(client, study, carol):
    study.answers_changeable = True
    study.save()
    read_all(study, carol)
    localise_all(study, carol)
    client.force_login(carol)
    assert client.get(api(study, "questionnaire")).status_code == 200
    item = services.ordered_items(study, carol)[0]
    again = client.put(api(study, "localisation", item.pk), {"points": [[1, 1]]}, "application/json")
    assert again.status_code == 409
    assert client.get(api(study, "localisation", item.pk)).json()["editable"] is False


def test_the_consensus_waits_for_both_final_localisations(client, study, carol, rita):
    """With changeable answers, finished is not final: neither sees the other's points before both are."""
    study.answers_changeable = True
    study.save()
    for user in (carol, rita):
        read_all(study, user)
        localise_all(study, user, OTHER_POINTS if user == rita else None)
    client.force_login(carol)
    assert client.get(api(study, "consensus")).status_code == 409
    services.finish_localisation(study, rita)
    refused = client.get(api(study, "consensus"))
    assert refused.status_code == 409 and "carol" in refused.json()["detail"]
    services.finish_localisation(study, carol)
    assert client.get(api(study, "consensus")).status_code == 200
    # Allowing changes again later does not reopen what the consensus has shown.
    study.answers_changeable = True
    study.save()
    item = services.ordered_items(study, carol)[0]
    assert (
        client.put(api(study, "localisation", item.pk), {"points": []}, "application/json").status_code == 409
    )


# --- labelers and the prediction basis -------------------------------------------------------------------


@pytest.fixture
def bob_half_way(truth_cases, alice, bob) -> tuple[LabelingCase, LabelingCase]:
    """bob reads two cases of a project: he has submitted the first and still has to read the second."""
    from ichweb.labeling import services as labeling

    first, second = truth_cases[0], truth_cases[1]
    project = labeling.create_project(
        lead=alice,
        name="Second opinion",
        studies=[first.study, second.study],
        readers=[bob],
        readers_per_case=1,
    )
    read_a = Read.objects.get(case__project=project, case__series=first.series)
    labeling.submit(read_a.pk, bob, read_a.version)
    return first, second


def test_a_labeler_never_sees_the_source_or_the_exemplars_of_a_series_still_to_read(
    client, bob_half_way, model_material, alice, bob
):
    """bob has read series A and still has to read series B; A's prediction basis was drawn from B."""
    first, second = bob_half_way
    entries = list(AtlasEntry.objects.filter(model_version=model_material.version).order_by("index"))
    AtlasEntry.objects.filter(pk=entries[0].pk).update(source_series=second.series, source_slice_index=4)
    AtlasEntry.objects.filter(pk__in=[e.pk for e in entries[1:]]).update(source_series=first.series)
    client.force_login(bob)

    doc = client.get(f"/api/v1/modeling/review/{first.series_id}/").json()
    assert doc["maps"], "bob may review the series he has read"
    basis = [b["entry"] for m in doc["maps"] for b in m["basis"]]
    assert all(b["id"] != entries[0].pk for b in basis), "an exemplar of a series bob has still to read"
    assert not {"source_series", "source_slice_index"} & {k for b in basis for k in b}
    assert client.get(f"/api/v1/modeling/atlas/{entries[0].pk}/patch.png").status_code == 404
    assert client.get(f"/api/v1/modeling/atlas/{entries[1].pk}/patch.png").status_code == 200

    # An exemplar from the series bob has finished is shown, without its source.
    AtlasEntry.objects.filter(pk=entries[0].pk).update(source_series=first.series)
    doc = client.get(f"/api/v1/modeling/review/{first.series_id}/").json()
    shown = [b["entry"] for m in doc["maps"] for b in m["basis"]]
    assert any(b["id"] == entries[0].pk for b in shown)
    assert not {"source_series", "source_slice_index"} & {k for b in shown for k in b}

    # A lead sees where every exemplar came from.
    client.force_login(alice)
    lead_doc = client.get(f"/api/v1/modeling/review/{first.series_id}/").json()
    assert {b["entry"]["source_series"] for m in lead_doc["maps"] for b in m["basis"]} == {first.series_id}


def test_the_route_walk_as_a_labeler_finds_no_exemplar_of_a_series_still_to_read(
    client, bob_half_way, model_material, bob
):
    """Every route as bob: no patch or map of an exemplar drawn from a series he still has to read."""
    second = bob_half_way[1]
    AtlasEntry.objects.update(source_series=second.series, source_slice_index=4)
    folder = model_material.version.atlas_folder / "images"
    exemplar_images = tuple(p.read_bytes() for p in folder.glob("*.png"))
    probe = Probe(
        values={
            "study_id": [],
            "index": [0],
            "letter": ["a"],
            "kind": ["patch", "map"],
            "task": list(TASKS),
            "format": ["json"],
            "case_id": list(LabelingCase.objects.values_list("pk", flat=True)),
            "series_id": list(Series.objects.values_list("pk", flat=True)),
            "point_id": [uuid.uuid4()],
            "number": [1],
            "panel": list(PANELS),
        },
        texts=[f'"source_series": {second.series_id}', '"source_slice_index"'],
        patterns=[],
        partner_points=[],
        images=exemplar_images,
    )
    client.force_login(bob)
    client.raise_request_exception = False
    problems = []
    for name, url in urls(probe):
        response = client.get(url)
        probe.calls += 1
        if response.status_code == 200:
            probe.ok[name] = probe.ok.get(name, 0) + 1
        problems += [
            f"{url}: {leak}"
            for leak in leaks(name, response, probe, allow_material=False, allow_partner=False)
            if not leak.startswith("key")  # bob may see model output of the series he has read
        ]
    assert problems == []
    assert probe.ok.get("review-detail") == 1 and probe.ok.get("attentionmap-overlay", 0) >= 4
    assert "atlasentry-patch" not in probe.ok
