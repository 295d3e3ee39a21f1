"""Render the Helm chart offline and validate every object (issue 17).

Rendering: the pinned `helm-python-sdk` wheel, Helm's own Go template engine (Helm v4) behind a C
ABI; no cluster and no helm binary. Its public `Chart.render` takes no API versions, so the
capabilities a cluster would report (the Prometheus operator's `monitoring.coreos.com/v1`) are
passed through the same native call with its `api_versions` option.

Validation: built-in kinds against the Kubernetes OpenAPI schemas shipped in the pinned
`kubernetes-validate` (strict: unknown fields fail); the custom resources (KEDA, ServiceMonitor)
against the schemas in deploy/helm/crd-schemas. A kind with neither fails: nothing is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from helm_python import Chart, _native

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mail-intake"
CRD_SCHEMAS = ROOT / "deploy" / "helm" / "crd-schemas"
PRODUCTION_VALUES = ROOT / "deploy" / "helm" / "values-production.example.yaml"
KUBERNETES_VERSION = "1.30.0"
PROMETHEUS_OPERATOR = "monitoring.coreos.com/v1"


def render(
    values: dict[str, Any] | None = None, *, api_versions: tuple[str, ...] = (), name: str = "mi"
) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` with `--api-versions` would give."""
    options = {"name": name, "namespace": "mail", "is_install": True, "kube_version": f"v{KUBERNETES_VERSION}"}
    if api_versions:
        options["api_versions"] = list(api_versions)
    with Chart.load(CHART) as chart:
        rendered = _native.call_string("helm_render", chart._raw(), json.dumps(values or {}), json.dumps(options))
    result: dict[str, str] = json.loads(rendered)
    return result


def objects(rendered: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".txt"):
            continue
        found += [doc for doc in yaml.safe_load_all(text) if doc]
    return found


def crd_schema(obj: dict[str, Any]) -> dict[str, Any] | None:
    group_version = obj["apiVersion"].replace("/", "-")
    path = CRD_SCHEMAS / f"{obj['kind'].lower()}-{group_version}.json"
    return json.loads(path.read_text()) if path.exists() else None


def validate(obj: dict[str, Any]) -> str:
    """Validate one object; returns what it was checked against. Raises on any problem."""
    schema = crd_schema(obj)
    if schema is not None:
        jsonschema.Draft202012Validator(schema).validate(obj)
        return "crd-schema"
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise AssertionError(f"no schema for {obj['apiVersion']} {obj['kind']}: add one to {CRD_SCHEMAS}") from exc
    return "kubernetes"


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def production_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(PRODUCTION_VALUES.read_text())
    return values
