"""Signals other rooms listen to; imaging never imports them (data flows one way)."""

from django.dispatch import Signal

#: Sent once the transaction storing new series has committed; ``series_ids``: the new Series primary keys.
series_imported = Signal()
