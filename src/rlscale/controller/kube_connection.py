"""The official Kubernetes client's configuration for the operator (a kubeconfig path,
``in-cluster``, or the default), and kopf's credentials taken from that same configuration,
so the watches and the client's writes authenticate one way."""

from __future__ import annotations

from typing import Any

from rlscale.controller.app import IN_CLUSTER


def load_client_configuration(kubeconfig: str | None) -> Any:
    """A ``kubernetes.client.Configuration`` from a kubeconfig path, ``in-cluster``, or the default."""
    from kubernetes import client, config

    configuration = client.Configuration()
    if kubeconfig == IN_CLUSTER:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return configuration


def connection_info(configuration: Any, namespace: str) -> Any:
    """kopf credentials from the official client's configuration (one source of truth)."""
    import kopf

    token = None
    auth = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get(
        "BearerToken"
    )
    if auth:
        token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else auth
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme="Bearer" if token else None,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        default_namespace=namespace,
    )
