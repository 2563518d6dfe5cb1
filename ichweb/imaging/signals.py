"""Signals other rooms listen to; imaging never imports them (data flows one way)."""

from django.dispatch import Signal

#: Sent once the transaction storing series has committed. ``series_ids``: the Series primary keys of the new
#: series and of the series this import completed with new instances (rebuilt: their volume and slice indices
#: changed, so what was computed on them is stale); ``completed_ids``: those completed ones alone.
series_imported = Signal()
