"""The service's logger and metrics (Powertools: JSON logs, EMF metrics)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "screenshot-service"
NAMESPACE = "PreviewScreenshots"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
