"""Admin pages: tokens (revoke one by setting "revoked at"), the DICOMweb audit, received studies, export
destinations (made and changed here) and send jobs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ichweb.interop.models import ApiToken, DicomwebCall, ExportDestination, ReceivedStudy, SendJob


class ReadOnly(admin.ModelAdmin):
    """Rows written by the system only: shown, never added or changed by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made with `manage.py dicomweb_token create` (which shows the secret once)."""

    list_display = ("prefix", "name", "user", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("prefix", "user", "created_by", "created_at", "last_used_at")
    fields = (
        "prefix",
        "name",
        "user",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(DicomwebCall)
class DicomwebCallAdmin(ReadOnly):
    list_display = ("at", "user", "token", "method", "path", "status", "n_instances", "duration_ms")
    list_filter = ("status", "method")
    search_fields = ("path", "user__username")


@admin.register(ReceivedStudy)
class ReceivedStudyAdmin(ReadOnly):
    list_display = (
        "study_uid",
        "calling_ae",
        "status",
        "n_instances",
        "n_refused",
        "aborted",
        "last_received_at",
        "import_job",
    )
    list_filter = ("status", "calling_ae", "aborted")
    search_fields = ("study_uid", "calling_ae")


@admin.register(ExportDestination)
class ExportDestinationAdmin(admin.ModelAdmin):
    """A STOW-RS URL (and token) or a C-STORE peer; the form says which fields the kind needs."""

    list_display = ("name", "kind", "url", "host", "port", "called_ae", "calling_ae", "enabled")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "url", "host", "called_ae")


@admin.register(SendJob)
class SendJobAdmin(ReadOnly):
    list_display = (
        "id",
        "what",
        "object_id",
        "destination",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "what", "destination")
