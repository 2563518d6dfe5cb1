"""``manage.py import_dicom PATH...``: import CT files, folders or zips through the one ingest service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ichweb.imaging.ingest import SKIPPED, import_items


class Command(BaseCommand):
    help = "Import DICOM CT files, folders or zip archives (de-identified before anything is stored)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="DICOM files, folders or .zip archives")
        parser.add_argument(
            "--quiet-report", action="store_true", help="print only the summary and skipped files"
        )

    def handle(self, *args: Any, paths: list[Path], **options: Any) -> None:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"not found: {', '.join(missing)}")
        with tqdm(total=100, unit="%", desc="import", disable=options["verbosity"] == 0) as bar:

            def progress(fraction: float, message: str) -> None:
                bar.n = round(100 * fraction)
                bar.set_postfix_str(message, refresh=True)

            result = import_items([(str(p), p.resolve()) for p in paths], progress=progress)
        for row in result.report:
            if row["status"] == SKIPPED or not options["quiet_report"]:
                reason = f": {row['reason']}" if row["reason"] else ""
                self.stdout.write(f"{row['status']:<9} {row['file']}{reason}")
        summary = (
            f"{result.n_accepted} of {len(result.report)} files accepted; {len(result.studies)} study/studies"
        )
        self.stdout.write(self.style.SUCCESS(summary) if result.n_accepted else self.style.WARNING(summary))
        if not result.n_accepted:
            raise CommandError("nothing was imported (see the reasons above)")
