"""The label vocabulary is ``ml.labels``'s: the Django choices are derived from it, not written again."""

from __future__ import annotations

from ichweb.labeling.models import SUBTYPE_FIELDS, GroundTruthSlice, SliceLabel, Subtype, SubtypeFlags
from ichweb.readerstudy.models import CaseRead, MaterialLabel, ReaderStudy
from ml.labels import ANY, LABELS, RSNA_NAMES, SUBTYPES


def test_the_subtype_choices_are_ml_labels_subtypes_in_their_order():
    assert tuple(Subtype.values) == SUBTYPES
    assert Subtype.labels == [RSNA_NAMES[code].capitalize() for code in SUBTYPES]
    assert Subtype.choices == [
        ("IPH", "Intraparenchymal"),
        ("IVH", "Intraventricular"),
        ("SDH", "Subdural"),
        ("EDH", "Epidural"),
        ("SAH", "Subarachnoid"),
    ]


def test_the_material_labels_are_every_ml_label_any_first():
    assert set(MaterialLabel.values) == set(LABELS)
    assert MaterialLabel.values == [ANY, *SUBTYPES]
    assert MaterialLabel.ANY == ANY and MaterialLabel.ANY.label == "Any ICH"
    assert ReaderStudy._meta.get_field("material_label").default == ANY


def test_every_subtype_has_its_flag_on_every_flag_table():
    assert tuple(code.lower() for code in SUBTYPES) == SUBTYPE_FIELDS
    for model in (SliceLabel, GroundTruthSlice, CaseRead):
        assert issubclass(model, SubtypeFlags)
        fields = {f.name for f in model._meta.get_fields()}
        assert set(SUBTYPE_FIELDS) <= fields, model
    flags = SubtypeFlags.flags({"SDH", "SAH"})
    assert flags == {"iph": False, "ivh": False, "sdh": True, "edh": False, "sah": True}
