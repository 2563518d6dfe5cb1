"""Assignments, slice labels, bleeding points, consensus and adjudication, ground truth."""
