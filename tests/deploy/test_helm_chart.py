"""The Helm chart renders and every object validates, with the chart's defaults and with a
production-like values file (Kafka over SASL_SSL, S3 blobs); the facts that keep it safe to run
are asserted, not only its syntax (issue 17)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from helm_python import HelmError, lint

from mailintake_common.topics import TopicOverride
from tests.deploy.helm import (
    CHART,
    KUBERNETES_VERSION,
    PROMETHEUS_OPERATOR,
    by_kind,
    objects,
    production_values,
    render,
    validate,
)

CONSUMERS = {
    "quarantine": "mail.intake.received",
    "classifier": "mail.quarantine.screened",
    "routing": "mail.classifier.classified",
}
SERVICES = ("intake", *CONSUMERS)


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return objects(render())


@pytest.fixture(scope="module")
def production_objects() -> list[dict[str, Any]]:
    return objects(render(production_values(), api_versions=(PROMETHEUS_OPERATOR,)))


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize("which", ["default_objects", "production_objects"])
def test_every_object_validates_against_its_schema(which: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(which)
    checked = {(o["kind"], validate(o)) for o in objs}
    assert ("Deployment", "kubernetes") in checked
    assert ("ScaledObject", "crd-schema") in checked


def test_strict_kubernetes_validation_catches_a_misspelt_field(default_objects: list[dict[str, Any]]) -> None:
    deployment = by_kind(default_objects, "Deployment")["mi-mail-intake-intake"]
    bad = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(Exception, match="replica"):
        validate(bad)


def test_the_crd_schemas_catch_what_keda_and_the_operator_would_refuse(
    production_objects: list[dict[str, Any]],
) -> None:
    scaled = next(iter(by_kind(production_objects, "ScaledObject").values()))
    bad = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}}  # KEDA calls it maxReplicaCount
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
    trigger = scaled["spec"]["triggers"][0]
    numeric = {**trigger, "metadata": {**trigger["metadata"], "lagThreshold": 50}}  # metadata values are strings
    with pytest.raises(jsonschema.ValidationError):
        validate({**scaled, "spec": {**scaled["spec"], "triggers": [numeric]}})
    monitor = next(iter(by_kind(production_objects, "ServiceMonitor").values()))
    with pytest.raises(jsonschema.ValidationError):
        validate({**monitor, "spec": {"endpoints": monitor["spec"]["endpoints"]}})  # no selector
    with pytest.raises(AssertionError, match="no schema"):
        validate({"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}})


def test_each_service_has_a_deployment_service_and_disruption_budget(default_objects: list[dict[str, Any]]) -> None:
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert sorted(by_kind(default_objects, kind)) == sorted(f"mi-mail-intake-{s}" for s in SERVICES)
    for name, service in by_kind(default_objects, "Service").items():
        deployment = by_kind(default_objects, "Deployment")[name]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        pdb = by_kind(default_objects, "PodDisruptionBudget")[name]
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_probes_limits_and_a_non_root_read_only_container(default_objects: list[dict[str, Any]]) -> None:
    for name, deployment in by_kind(default_objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        port = container["ports"][0]["containerPort"]
        assert env_of(container)[f"MAILINTAKE_{container['name'].upper()}_PORT"] == str(port)
        assert env_of(container)["MAILINTAKE_HOST"] == "0.0.0.0"
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # Tesseract's scratch files
        assert container["args"] == [container["name"]]
        rolling = deployment["spec"]["strategy"]["rollingUpdate"]
        if container["name"] in CONSUMERS:  # never more copies than partitions, even mid-rollout
            assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (0, 1)
        else:  # intake: never fewer copies serving
            assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (1, 0)


def test_secrets_are_referenced_never_defaulted(default_objects: list[dict[str, Any]]) -> None:
    assert by_kind(default_objects, "Secret") == {}
    for deployment in by_kind(default_objects, "Deployment").values():
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["MAILINTAKE_DATABASE_URL"] == {
            "secretKeyRef": {"name": "mail-intake-secrets", "key": "database-url"}
        }
        assert env["MAILINTAKE_BOOTSTRAP_ADMIN_KEY"]["secretKeyRef"]["key"] == "bootstrap-admin-key"


def test_a_chart_made_secret_needs_both_values_and_a_strong_key() -> None:
    with pytest.raises(HelmError, match=r"secrets\.bootstrapAdminKey is required"):
        render({"secrets": {"create": True, "databaseUrl": "postgresql+asyncpg://u:p@db/mi"}})
    with pytest.raises(HelmError, match="32 random bytes"):
        render(
            {
                "secrets": {
                    "create": True,
                    "databaseUrl": "postgresql+asyncpg://u:p@db/mi",
                    "bootstrapAdminKey": "x" * 20,
                }
            }
        )
    key = "mik_" + "Qm3vT8nR2pL6xW9zC4bF7hJ1kD5sG0aYeU2iO8uE3rT"
    [secret] = by_kind(
        objects(
            render(
                {"secrets": {"create": True, "databaseUrl": "postgresql+asyncpg://u:p@db/mi", "bootstrapAdminKey": key}}
            )
        ),
        "Secret",
    ).values()
    assert secret["stringData"]["bootstrap-admin-key"] == key
    # Made before the migration Job that reads it, and kept on uninstall.
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_migrations_run_as_a_hook_before_install_and_upgrade(default_objects: list[dict[str, Any]]) -> None:
    [job] = by_kind(default_objects, "Job").values()
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["args"] == ["migrate"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert env_of(pod["containers"][0])["MAILINTAKE_DATABASE_URL"]["secretKeyRef"]["name"] == "mail-intake-secrets"


def test_keda_scales_each_consumer_on_its_group_lag_up_to_its_input_partitions(
    default_objects: list[dict[str, Any]], production_objects: list[dict[str, Any]]
) -> None:
    expected = {
        "default": {"quarantine": 4, "classifier": 4, "routing": 4},
        "production": {"quarantine": 12, "classifier": 24, "routing": 12},  # screened is overridden to 24
    }
    for label, objs in (("default", default_objects), ("production", production_objects)):
        scaled = by_kind(objs, "ScaledObject")
        assert sorted(scaled) == sorted(f"mi-mail-intake-{s}" for s in CONSUMERS)
        for service, topic in CONSUMERS.items():
            spec = scaled[f"mi-mail-intake-{service}"]["spec"]
            assert spec["scaleTargetRef"]["name"] == f"mi-mail-intake-{service}"
            assert spec["maxReplicaCount"] == expected[label][service]
            [trigger] = spec["triggers"]
            assert trigger["type"] == "kafka"
            assert trigger["metadata"]["consumerGroup"] == service
            assert trigger["metadata"]["topic"] == topic
            # KEDA owns the replica count of what it scales; intake keeps its own.
            assert "replicas" not in by_kind(objs, "Deployment")[f"mi-mail-intake-{service}"]["spec"]
        assert "replicas" in by_kind(objs, "Deployment")["mi-mail-intake-intake"]["spec"]
        # the services create their topics with the partitions KEDA counts on
        env = env_of(
            by_kind(objs, "Deployment")["mi-mail-intake-classifier"]["spec"]["template"]["spec"]["containers"][0]
        )
        assert env["MAILINTAKE_TOPIC_PARTITIONS"] == str(expected[label]["quarantine"])


def test_production_values_reach_kafka_over_sasl_ssl_with_the_ca_from_a_secret(
    production_objects: list[dict[str, Any]],
) -> None:
    for deployment in by_kind(production_objects, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = env_of(container)
        assert env["MAILINTAKE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["MAILINTAKE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["MAILINTAKE_KAFKA_SASL_PASSWORD"] == {
            "secretKeyRef": {"name": "mail-intake-kafka-sasl", "key": "password"}
        }
        assert env["MAILINTAKE_KAFKA_SSL_CAFILE"] == "/etc/mail-intake/kafka-tls/ca.crt"
        assert "MAILINTAKE_KAFKA_SSL_CERTFILE" not in env  # no mutual TLS in this example
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["kafka-tls"]["secret"]["secretName"] == "mail-intake-kafka-tls"
        assert {"name": "kafka-tls", "mountPath": "/etc/mail-intake/kafka-tls", "readOnly": True} in container[
            "volumeMounts"
        ]
        assert container["image"].startswith("registry.agency.example/mail-intake@sha256:")
        overrides = json.loads(env["MAILINTAKE_TOPIC_OVERRIDES"])
        assert overrides["*"]["configs"] == {"min.insync.replicas": "2"}
        assert TopicOverride.model_validate(overrides["mail.quarantine.screened"]).partitions == 24
        assert env["MAILINTAKE_TOPIC_REPLICATION_FACTOR"] == "3"
    [auth] = by_kind(production_objects, "TriggerAuthentication").values()
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs == {"password": ("mail-intake-kafka-sasl", "password"), "ca": ("mail-intake-kafka-tls", "ca.crt")}
    for scaled in by_kind(production_objects, "ScaledObject").values():
        [trigger] = scaled["spec"]["triggers"]
        assert trigger["metadata"]["sasl"] == "scram_sha512"
        assert trigger["metadata"]["tls"] == "enable"
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]


def test_production_values_store_blobs_in_s3_with_credentials_from_a_secret(
    production_objects: list[dict[str, Any]],
) -> None:
    for deployment in by_kind(production_objects, "Deployment").values():
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["MAILINTAKE_BLOB_STORE"] == "s3"
        assert env["MAILINTAKE_S3_BUCKET"] == "agency-mail-intake-blobs"
        assert env["MAILINTAKE_S3_REGION"] == "ap-southeast-2"
        assert env["MAILINTAKE_S3_SECRET_ACCESS_KEY"]["secretKeyRef"] == {
            "name": "mail-intake-s3",
            "key": "secret-access-key",
        }


def test_plain_kafka_sets_no_tls_or_sasl_settings_the_services_would_refuse(
    default_objects: list[dict[str, Any]],
) -> None:
    assert by_kind(default_objects, "TriggerAuthentication") == {}
    for deployment in by_kind(default_objects, "Deployment").values():
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["MAILINTAKE_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
        assert not [k for k in env if k.startswith(("MAILINTAKE_KAFKA_SSL", "MAILINTAKE_KAFKA_SASL"))]


def test_sasl_or_tls_without_their_secrets_does_not_render() -> None:
    with pytest.raises(HelmError, match=r"kafka\.sasl\.existingSecret"):
        render({"kafka": {"securityProtocol": "SASL_SSL", "sasl": {"username": "u"}, "tls": {"existingSecret": "ca"}}})
    with pytest.raises(HelmError, match=r"kafka\.tls\.existingSecret"):
        render({"kafka": {"securityProtocol": "SSL"}})
    with pytest.raises(HelmError, match=r"blobStore\.s3\.existingSecret"):
        render({"blobStore": {"type": "s3", "s3": {"endpointUrl": "https://s3.example"}}})


def test_a_service_monitor_only_where_the_prometheus_operator_is(default_objects: list[dict[str, Any]]) -> None:
    assert by_kind(default_objects, "ServiceMonitor") == {}
    with_operator = objects(render(api_versions=(PROMETHEUS_OPERATOR,)))
    monitors = by_kind(with_operator, "ServiceMonitor")
    assert sorted(monitors) == sorted(f"mi-mail-intake-{s}" for s in SERVICES)
    for name, monitor in monitors.items():
        assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
        service = by_kind(with_operator, "Service")[name]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    forced_off = objects(render({"serviceMonitor": {"enabled": False}}, api_versions=(PROMETHEUS_OPERATOR,)))
    assert by_kind(forced_off, "ServiceMonitor") == {}
    assert len(by_kind(objects(render({"serviceMonitor": {"enabled": True}})), "ServiceMonitor")) == 4


def test_keda_off_gives_back_fixed_replicas_never_more_than_the_partitions() -> None:
    objs = objects(render({"keda": {"enabled": False}}))
    assert by_kind(objs, "ScaledObject") == {}
    assert all("replicas" in d["spec"] for d in by_kind(objs, "Deployment").values())
    with pytest.raises(HelmError, match=r"services\.classifier\.replicas \(6\) is more than the 4 partitions"):
        render({"keda": {"enabled": False}, "services": {"classifier": {"replicas": 6}}})
    more = {"keda": {"enabled": False}, "services": {"classifier": {"replicas": 6}}}
    more["topics"] = {"overrides": {"mail.quarantine.screened": {"partitions": 8}}}
    assert by_kind(objects(render(more)), "Deployment")["mi-mail-intake-classifier"]["spec"]["replicas"] == 6


def test_helm_lint_finds_nothing_worse_than_advice() -> None:
    report = lint(str(CHART), strict=True, kube_version=f"v{KUBERNETES_VERSION}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []  # 2: warning, 3: error


# Settings being added on other branches at the same time as the chart (Kafka TLS/SASL, S3 blobs):
# the chart uses their announced names; once those land, the settings classes know them too.
ANNOUNCED = {
    "MAILINTAKE_KAFKA_SECURITY_PROTOCOL",
    "MAILINTAKE_KAFKA_SASL_MECHANISM",
    "MAILINTAKE_KAFKA_SASL_USERNAME",
    "MAILINTAKE_KAFKA_SASL_PASSWORD",
    "MAILINTAKE_KAFKA_SSL_CAFILE",
    "MAILINTAKE_KAFKA_SSL_CERTFILE",
    "MAILINTAKE_KAFKA_SSL_KEYFILE",
    "MAILINTAKE_KAFKA_SSL_CHECK_HOSTNAME",
    "MAILINTAKE_BLOB_STORE",
    "MAILINTAKE_S3_ENDPOINT_URL",
    "MAILINTAKE_S3_BUCKET",
    "MAILINTAKE_S3_REGION",
    "MAILINTAKE_S3_PREFIX",
    "MAILINTAKE_S3_ACCESS_KEY_ID",
    "MAILINTAKE_S3_SECRET_ACCESS_KEY",
}


def test_every_setting_the_chart_sets_is_one_a_service_reads(production_objects: list[dict[str, Any]]) -> None:
    from mailintake_common.docgen import _settings_classes

    known = {f"MAILINTAKE_{name.upper()}" for _, cls in _settings_classes() for name in cls.model_fields}
    pods = [d["spec"]["template"]["spec"] for d in by_kind(production_objects, "Deployment").values()]
    pods += [j["spec"]["template"]["spec"] for j in by_kind(production_objects, "Job").values()]
    names = {e["name"] for pod in pods for e in pod["containers"][0]["env"]}
    assert {n for n in names if n.startswith("MAILINTAKE_")} - known - ANNOUNCED == set()
