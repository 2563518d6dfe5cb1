"""QIDO-RS: matching on the stored (de-identified) attributes, paging, includefield, malformed queries."""

from __future__ import annotations

from datetime import date

import pytest

from ichweb.imaging import ingest
from ichweb.imaging.models import Study
from ichweb.interop import qido
from ichweb.interop.models import StudyHeader

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(db, phantom_cases, alice, client) -> list[Study]:
    """Both phantom cases imported, dated 2019-06-01 and 2021-03-15; alice logged in."""
    result = ingest.import_items(
        [(name, phantom_cases / name / "series") for name in ("case0001", "case0002")], user=alice
    )
    studies = sorted(result.studies, key=lambda s: s.pk)
    assert len(studies) == 2
    dates, accessions = (date(2019, 6, 1), date(2021, 3, 15)), ("ACC-1", "ACC-22")
    for study, day, accession in zip(studies, dates, accessions, strict=True):
        Study.objects.filter(pk=study.pk).update(study_date=day, accession_pseudo=accession)
    client.force_login(alice)
    return studies


def uids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {r["0020000D"]["Value"][0] for r in response.json()}


def test_the_study_index_is_built_from_the_de_identified_files(client, two):
    assert StudyHeader.objects.count() == 0
    client.get("/dicomweb/studies")
    header = StudyHeader.objects.get(study=two[0])
    assert header.patient_name and header.attributes["00100010"]["vr"] == "PN"
    assert header.attributes["00100020"]["Value"] == [two[0].patient_pseudo_id]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20190601", {0}),
        ("20190101-20191231", {0}),
        ("-20200101", {0}),
        ("20200101-", {1}),
        ("20190601-20210315", {0, 1}),
        ("", {0, 1}),
        ("20000101-20001231", set()),
    ],
)
def test_study_date_matches_single_dates_and_ranges(client, two, value, expected):
    response = client.get("/dicomweb/studies", {"StudyDate": value})
    assert uids(response) == {two[i].study_uid for i in expected}


@pytest.mark.parametrize("value", ["2019-06-01", "2019", "20191301", "20211231-20190101", "-", "abc-"])
def test_a_malformed_date_range_is_400_naming_the_parameter(client, two, value):
    response = client.get("/dicomweb/studies", {"StudyDate": value})
    assert response.status_code == 400
    assert list(response.json()) == ["StudyDate"] and "StudyDate" in response.json()["StudyDate"][0]


def test_matching_on_uids_patient_accession_and_modality(client, two):
    first, second = two
    both = f"{first.study_uid},{second.study_uid}"
    assert uids(client.get("/dicomweb/studies", {"StudyInstanceUID": both})) == {
        first.study_uid,
        second.study_uid,
    }
    assert uids(client.get("/dicomweb/studies", {"0020000D": first.study_uid})) == {first.study_uid}
    assert uids(client.get("/dicomweb/studies", {"PatientID": second.patient_pseudo_id})) == {
        second.study_uid
    }
    assert uids(client.get("/dicomweb/studies", {"AccessionNumber": "ACC-2?"})) == {second.study_uid}
    assert uids(client.get("/dicomweb/studies", {"AccessionNumber": "ACC-*"})) == {
        first.study_uid,
        second.study_uid,
    }
    assert uids(client.get("/dicomweb/studies", {"AccessionNumber": "ACC-2"})) == set()
    assert len(uids(client.get("/dicomweb/studies", {"ModalitiesInStudy": "CT"}))) == 2
    assert uids(client.get("/dicomweb/studies", {"ModalitiesInStudy": "MR"})) == set()
    assert len(uids(client.get("/dicomweb/studies", {"ModalitiesInStudy": "MR\\CT"}))) == 2
    bad = client.get("/dicomweb/studies", {"StudyInstanceUID": "1.2.abc"})
    assert bad.status_code == 400 and "StudyInstanceUID" in bad.json()


def test_patient_name_matches_with_wildcards_case_and_fuzzily(client, two):
    client.get("/dicomweb/studies")
    name = StudyHeader.objects.get(study=two[0]).patient_name
    family, _, given = name.partition("^")
    assert family and given, name
    assert uids(client.get("/dicomweb/studies", {"PatientName": name.lower()})) == {two[0].study_uid}
    assert uids(client.get("/dicomweb/studies", {"PatientName": f"{family[:2]}*"})) >= {two[0].study_uid}
    assert uids(client.get("/dicomweb/studies", {"PatientName": given[:3]})) == set()
    fuzzy = client.get("/dicomweb/studies", {"PatientName": given[:3].lower(), "fuzzymatching": "true"})
    assert two[0].study_uid in uids(fuzzy)


def test_limit_offset_and_the_warning_when_more_results_wait(client, two):
    page1 = client.get("/dicomweb/studies", {"limit": "1"})
    page2 = client.get("/dicomweb/studies", {"limit": "1", "offset": "1"})
    assert len(uids(page1)) == len(uids(page2)) == 1 and uids(page1) != uids(page2)
    assert page1["Warning"].startswith('299 - "more than 1 results') and "Warning" not in page2
    assert client.get("/dicomweb/studies", {"offset": "5"}).json() == []
    bad = client.get("/dicomweb/studies", {"limit": "-1"})
    assert bad.status_code == 400 and "limit" in bad.json()


def test_includefield_adds_attributes_from_the_files(client, two):
    plain = client.get("/dicomweb/studies", {"StudyInstanceUID": two[0].study_uid}).json()[0]
    assert "00101010" not in plain  # PatientAge: not a default attribute
    asked = client.get(
        "/dicomweb/studies", {"StudyInstanceUID": two[0].study_uid, "includefield": "PatientAge,00100040"}
    ).json()[0]
    assert asked["00101010"]["vr"] == "AS" and "00100040" in asked
    everything = client.get(
        "/dicomweb/studies", {"StudyInstanceUID": two[0].study_uid, "includefield": "all"}
    )
    assert "00101010" in everything.json()[0]
    series = two[0].series.get()
    instances = client.get(
        f"/dicomweb/studies/{two[0].study_uid}/series/{series.series_uid}/instances",
        {"includefield": "ImagePositionPatient", "limit": "2"},
    ).json()
    assert len(instances) == 2 and all(len(i["00200032"]["Value"]) == 3 for i in instances)
    bad = client.get("/dicomweb/studies", {"includefield": "NoSuchThing"})
    assert bad.status_code == 400 and "includefield" in bad.json()


def test_unknown_parameters_are_400_and_unmatchable_attributes_a_warning(client, two):
    bad = client.get("/dicomweb/studies", {"PatientNmae": "x"})
    assert bad.status_code == 400 and "PatientNmae" in bad.json()
    ignored = client.get("/dicomweb/studies", {"PatientBirthDate": "19700101"})
    assert len(uids(ignored)) == 2 and "PatientBirthDate is not matched" in ignored["Warning"]


def test_series_and_instance_levels(client, two):
    study = two[1]
    series = study.series.get()
    found = client.get(f"/dicomweb/studies/{study.study_uid}/series").json()
    assert [s["0020000E"]["Value"][0] for s in found] == [series.series_uid]
    assert found[0]["00080060"]["Value"] == ["CT"] and found[0]["00201209"]["Value"] == [8]
    assert found[0]["00081190"]["Value"][0].endswith(f"/studies/{study.study_uid}/series/{series.series_uid}")
    everywhere = client.get("/dicomweb/series", {"PatientID": study.patient_pseudo_id}).json()
    assert [s["0020000E"]["Value"][0] for s in everywhere] == [series.series_uid]
    assert everywhere[0]["00100020"]["Value"] == [study.patient_pseudo_id]  # study attributes too
    instances = client.get(f"/dicomweb/studies/{study.study_uid}/series/{series.series_uid}/instances").json()
    assert len(instances) == 8
    assert {i["00080016"]["Value"][0] for i in instances} == {"1.2.840.10008.5.1.4.1.1.2"}
    one = client.get("/dicomweb/instances", {"SOPInstanceUID": instances[3]["00080018"]["Value"][0]}).json()
    assert len(one) == 1 and one[0]["0020000E"]["Value"] == [series.series_uid]
    numbered = client.get(
        "/dicomweb/instances", {"InstanceNumber": "3", "SeriesInstanceUID": series.series_uid}
    )
    assert len(numbered.json()) == 1


def test_json_is_the_only_answer_offered(client, two):
    response = client.get("/dicomweb/studies", HTTP_ACCEPT="multipart/related; type=application/dicom+xml")
    assert response.status_code == 406 and "application/dicom+json" in response.json()["detail"]
    assert client.get("/dicomweb/studies", HTTP_ACCEPT="application/dicom+json").status_code == 200


@pytest.mark.parametrize(
    ("raw", "first", "last"),
    [("20200101", date(2020, 1, 1), date(2020, 1, 1)), ("-20200101", None, date(2020, 1, 1))],
)
def test_parse_date_range(raw, first, last):
    assert qido.parse_date_range(raw, "StudyDate") == (first, last)


def test_parse_time_range():
    assert qido.parse_time_range("10", "StudyTime") == ("100000", "109999")
    assert qido.parse_time_range("0830-", "StudyTime") == ("083000", "999999")
    assert qido.parse_time_range("-120000.5", "StudyTime") == ("000000", "120000")
