"""The coded concepts of ICHweb's DICOM exports (SR and SEG), each defined once, with its meaning.

Where a concept has a code that ships in DICOM's own code tables (PS3.16, as pydicom carries them) it is
used: SNOMED CT (``SCT``) for intracranial haemorrhage and the presence/absence values, DICOM (``DCM``)
for the report's structure. The five haemorrhage subtypes, the ground-truth methods and the decision
threshold have no code we could check against PS3.16, so they use the private scheme ``99ICHWEB``
(docs/interop.md, "Export"): a receiver that knows no ``99ICHWEB`` still reads the meaning, and a later
SNOMED mapping changes this table only.
"""

from __future__ import annotations

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

from ml.labels import ANY

#: The private coding scheme of ICHweb's own concepts (a "99" designator is private by PS3.16 8.2).
SCHEME = "99ICHWEB"


def _private(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning)


#: SNOMED CT 1386000, "Intracranial hemorrhage (disorder)" (in PS3.16; the "any ICH" label).
INTRACRANIAL_HAEMORRHAGE = CodedConcept.from_code(codes.SCT.IntracranialHemorrhage)

#: One code per label of ``ml.labels.LABELS``: what a finding, a segment or a probability is about.
LABEL_CODES: dict[str, CodedConcept] = {
    "IPH": _private("IPH", "Intraparenchymal hemorrhage"),
    "IVH": _private("IVH", "Intraventricular hemorrhage"),
    "SDH": _private("SDH", "Subdural hemorrhage"),
    "EDH": _private("EDH", "Epidural hemorrhage"),
    "SAH": _private("SAH", "Subarachnoid hemorrhage"),
    ANY: INTRACRANIAL_HAEMORRHAGE,
}

#: How a ground truth was made (``GroundTruth.Method``), as the measurement groups' method.
METHOD_CODES: dict[str, CodedConcept] = {
    "consensus": _private("CONSENSUS", "Consensus of independent readers"),
    "adjudication": _private("ADJUDICATION", "Two readers with blinded third-reader adjudication"),
    "single": _private("SINGLE", "Single reader"),
    "imported": _private("IMPORTED", "Imported reference labels"),
}

#: The model's decision threshold of a label (a case is called positive at or above it).
THRESHOLD = _private("THRESHOLD", "Decision threshold")

PROBABILITY = CodedConcept.from_code(codes.DCM.Probability)
PRESENT = CodedConcept.from_code(codes.SCT.Present)
ABSENT = CodedConcept.from_code(codes.SCT.Absent)
PERSON = CodedConcept.from_code(codes.DCM.Person)
DEVICE = CodedConcept.from_code(codes.DCM.Device)
COMPUTED_TOMOGRAPHY = CodedConcept.from_code(codes.SCT.ComputedTomography)
ABNORMAL_STRUCTURE = CodedConcept.from_code(codes.SCT.MorphologicallyAbnormalStructure)
ARTIFICIAL_INTELLIGENCE = CodedConcept.from_code(codes.DCM.ArtificialIntelligence)
#: UCUM "1": a probability and a threshold are unitless.
NO_UNITS = CodedConcept(value="1", scheme_designator="UCUM", meaning="no units")
