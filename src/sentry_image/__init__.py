"""Sentry-Image."""
