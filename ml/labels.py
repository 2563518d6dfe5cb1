"""The one label order of the project (docs/science.md, "Task and labels").

Model outputs, ground-truth arrays and stored probabilities all use ``LABELS``: the five subtypes in the
order of the labeling keys 1-5, then the sixth "any ICH" output. M1 uses the first five (``SUBTYPES``).
"""

from __future__ import annotations

SUBTYPES: tuple[str, ...] = ("IPH", "IVH", "SDH", "EDH", "SAH")
ANY = "ANY"
LABELS: tuple[str, ...] = (*SUBTYPES, ANY)

#: RSNA 2019 subtype names (Lewicki et al.) for each of our codes.
RSNA_NAMES: dict[str, str] = {
    "IPH": "intraparenchymal",
    "IVH": "intraventricular",
    "SDH": "subdural",
    "EDH": "epidural",
    "SAH": "subarachnoid",
    ANY: "any",
}
#: RSNA CSV row order: any, epidural, intraparenchymal, intraventricular, subarachnoid, subdural.
RSNA_ORDER: tuple[str, ...] = (ANY, "EDH", "IPH", "IVH", "SAH", "SDH")
