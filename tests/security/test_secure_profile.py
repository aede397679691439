"""The secure profile's pieces without a broker: certificates, least-privilege ACLs, the printed settings."""

from __future__ import annotations

import datetime
import ipaddress

from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from common import config
from localkafka.secure import PipelineNames, SecureLocalKafka, client_env, generate_tls, pipeline_acls

NAMES = PipelineNames("in", "out", "dlq", "grp", "dash-grp", "sentiment-consumer.grp.")


def test_the_broker_certificate_is_signed_by_the_ca_for_loopback_only():
    ca_pem, keystore_pem = generate_tls(days=2)
    ca = x509.load_pem_x509_certificate(ca_pem)
    broker, chained_ca = x509.load_pem_x509_certificates(keystore_pem)
    load_pem_private_key(keystore_pem, password=None)  # the key Kafka's PEM keystore reads, unencrypted PKCS#8
    assert chained_ca == ca
    broker.verify_directly_issued_by(ca)
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert broker.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    lifetime = broker.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=1) < lifetime <= datetime.timedelta(days=2)


def test_two_runs_never_share_a_ca():
    assert generate_tls(days=1)[0] != generate_tls(days=1)[0]


def test_each_user_is_granted_exactly_what_its_service_does():
    granted = {(b.principal, b.restype, b.name, b.resource_pattern_type, b.operation) for b in pipeline_acls(NAMES)}
    topic, group, txn = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
    literal, prefixed = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
    read, write = AclOperation.READ, AclOperation.WRITE
    assert granted == {
        ("User:consumer", topic, "in", literal, read),
        ("User:consumer", group, "grp", literal, read),
        ("User:consumer", topic, "out", literal, write),
        ("User:consumer", topic, "dlq", literal, write),
        ("User:consumer", txn, "sentiment-consumer.grp.", prefixed, write),
        ("User:producer", topic, "in", literal, write),
        ("User:dashboard", topic, "out", literal, read),
        ("User:dashboard", group, "dash-grp", literal, read),
    }


def test_the_consumer_transactional_ids_fall_under_its_acl():
    from consumer.service import ServiceConfig

    service = ServiceConfig({}, "in", "out", "dlq", "grp", instance_id="consumer-7")
    assert service.transactional_id.startswith(NAMES.transactional_id_prefix)


def test_printed_settings_resolve_to_the_client_configuration(tmp_path):
    broker = SecureLocalKafka(port=19999, controller_port=20000, state_dir=tmp_path)
    broker.ensure_passwords()
    broker.ensure_tls()
    wanted = broker.user_config("producer")
    env = dict(line.split("=", 1) for line in client_env(wanted))
    assert all(name.startswith(config.ENV_PREFIX) for name in env)
    assert config.resolve(("bootstrap_servers",), environ=env).kafka_config() == wanted
