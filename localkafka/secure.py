"""The secure profile of the local broker: SASL_SSL, SCRAM-SHA-512 users, TLS and ACLs.

Production clusters authenticate, encrypt and authorise, so the pipeline is
proven against a broker that does the same: one SASL_SSL listener (clients
and the broker's own inter-broker traffic, SCRAM-SHA-512), a CA and broker
certificate generated for this broker's data folder, KRaft's
StandardAuthorizer with nothing allowed unless an ACL says so, and one user
per service whose ACLs grant exactly what that service does.

The controller listener stays on loopback with SASL/PLAIN and no TLS (KRaft
controllers cannot use SCRAM: its credentials live in the metadata log they
serve); only the broker itself knows its password.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localkafka.broker import BrokerError, LocalKafka
from localkafka.topics import create_topics

SECURE_PORT = 9192
USERS = ("admin", "consumer", "producer", "dashboard")
SUPER_USER = "admin"
CONTROLLER_USER = "controller"  # the broker's login on the controller listener (SASL/PLAIN, loopback only)
MECHANISM = "SCRAM-SHA-512"
_CERT_DAYS = 30
# The options whose values name what the ACLs grant (``sentiment-kafka start --secure`` reads them).
SECURE_OPTIONS = ("input_topic", "output_topic", "dlq_topic", "partitions", "group_id", "dashboard_group_id")


@dataclass(frozen=True)
class SecureLocalKafka(LocalKafka):
    """A local broker whose only client listener is SASL_SSL; its folder holds CA, keystore and passwords."""

    port: int = SECURE_PORT
    controller_port: int = SECURE_PORT + 1
    state_dir: Path | None = None  # default: <home>/secure-<port>

    @property
    def instance(self) -> Path:
        return self.state_dir if self.state_dir is not None else self.home / f"secure-{self.port}"

    @property
    def tls_dir(self) -> Path:
        return self.instance / "tls"

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients trust (``ssl.ca.location``); public."""
        return self.tls_dir / "ca.pem"

    @property
    def keystore_file(self) -> Path:
        return self.tls_dir / "broker-keystore.pem"

    @property
    def credentials_file(self) -> Path:
        return self.instance / "credentials.json"

    # -- secrets made once per data folder -----------------------------------------------------

    def passwords(self) -> dict[str, str]:
        """Each user's password, as formatted into this broker's storage."""
        try:
            return json.loads(self.credentials_file.read_text())
        except FileNotFoundError:
            raise BrokerError(
                f"no secure broker was set up in {self.instance}: "
                f"run `sentiment-kafka --port {self.port} start --secure` first"
            ) from None

    def ensure_passwords(self) -> None:
        """Make each user's password once, kept owner-only beside the data it is formatted into."""
        if self.credentials_file.exists():
            return
        _private_dir(self.instance)
        made = {user: secrets.token_urlsafe(24) for user in (*USERS, CONTROLLER_USER)}
        _write_private(self.credentials_file, json.dumps(made, indent=2) + "\n")

    def ensure_tls(self) -> None:
        """Generate the CA and the broker's certificate (for 127.0.0.1 and localhost) unless present."""
        if self.ca_file.exists() and self.keystore_file.exists():
            return
        _private_dir(self.tls_dir)
        ca_pem, keystore_pem = generate_tls()
        self.ca_file.write_bytes(ca_pem)
        _write_private(self.keystore_file, keystore_pem.decode())

    # -- hooks of LocalKafka ----------------------------------------------------------------------

    def client_config(self) -> dict[str, str]:
        return self.user_config(SUPER_USER)

    def user_config(self, user: str, password: str | None = None) -> dict[str, str]:
        """librdkafka settings of ``user`` (``password`` overrides the real one, for tests of refusal)."""
        if user not in USERS:
            raise ValueError(f"unknown user {user!r}; the secure broker has {', '.join(USERS)}")
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": MECHANISM,
            "sasl.username": user,
            "sasl.password": self.passwords()[user] if password is None else password,
            "ssl.ca.location": str(self.ca_file),
        }

    def server_properties(self) -> list[str]:
        self.ensure_passwords()
        self.ensure_tls()
        pw = self.passwords()
        replaced = (
            "listeners=",
            "advertised.listeners=",
            "listener.security.protocol.map=",
            "inter.broker.listener.name=",
        )
        plain = [line for line in super().server_properties() if not line.startswith(replaced)]
        controller_jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{CONTROLLER_USER}" password="{pw[CONTROLLER_USER]}" '
            f'user_{CONTROLLER_USER}="{pw[CONTROLLER_USER]}";'
        )
        broker_jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{SUPER_USER}" password="{pw[SUPER_USER]}";'
        )
        return plain + [
            f"listeners=SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{self.port}",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name=SASL_SSL",
            f"sasl.enabled.mechanisms={MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={broker_jaas}",
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f"listener.name.controller.plain.sasl.jaas.config={controller_jaas}",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.keystore_file}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.ca_file}",
            "ssl.client.auth=none",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{SUPER_USER};User:{CONTROLLER_USER}",
            "allow.everyone.if.no.acl.found=false",
        ]

    def _write_config(self) -> Path:
        config = super()._write_config()
        config.chmod(0o600)  # it holds the broker's own passwords
        return config

    def format_arguments(self) -> list[str]:
        pw = self.passwords()
        arguments: list[str] = []
        for user in USERS:
            arguments += ["--add-scram", f"{MECHANISM}=[name={user},password={pw[user]}]"]
        return arguments


# -- TLS ------------------------------------------------------------------------------------------


def generate_tls(days: int = _CERT_DAYS) -> tuple[bytes, bytes]:
    """A fresh CA and a broker certificate it signs; returns (CA certificate PEM, broker keystore PEM).

    The keystore PEM is the broker's unencrypted PKCS#8 key followed by its
    certificate chain, as Kafka's ``ssl.keystore.type=PEM`` reads it; the file
    is written owner-only.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    valid_from, valid_to = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sentiment local test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem = ca_cert.public_bytes(pem)
    key_pem = broker_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca_pem, key_pem + broker_cert.public_bytes(pem) + ca_pem


# -- ACLs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineNames:
    """The resources the ACLs name: the pipeline's topics, its groups and the consumer's transactional ids."""

    input_topic: str
    output_topic: str
    dlq_topic: str
    group_id: str
    dashboard_group_id: str
    transactional_id_prefix: str


def pipeline_acls(names: PipelineNames) -> list[Any]:
    """Least privilege: each service's user gets what it does and nothing else.

    consumer  - read the input topic in its group; write the output and
                dead-letter topics; its transactional ids (exactly-once)
    producer  - write the input topic
    dashboard - read the output topic in its own group
    """
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    def allow(
        user: str,
        kind: ResourceType,
        name: str,
        operation: AclOperation,
        pattern: ResourcePatternType = ResourcePatternType.LITERAL,
    ) -> AclBinding:
        return AclBinding(kind, name, pattern, f"User:{user}", "*", operation, AclPermissionType.ALLOW)

    topic, group, txn = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
    read, write = AclOperation.READ, AclOperation.WRITE
    return [
        allow("consumer", topic, names.input_topic, read),
        allow("consumer", group, names.group_id, read),
        allow("consumer", topic, names.output_topic, write),
        allow("consumer", topic, names.dlq_topic, write),
        allow("consumer", txn, names.transactional_id_prefix, write, ResourcePatternType.PREFIXED),
        allow("producer", topic, names.input_topic, write),
        allow("dashboard", topic, names.output_topic, read),
        allow("dashboard", group, names.dashboard_group_id, read),
    ]


def apply_acls(admin_config: Mapping[str, Any], bindings: Iterable[Any], timeout: float = 30.0) -> int:
    """Create ``bindings`` through the admin API (creating an existing ACL is a no-op); return how many."""
    from common.kafka import make_admin

    wanted = list(bindings)
    admin = make_admin(admin_config)  # kept alive until the futures resolve
    for future in admin.create_acls(wanted, request_timeout=timeout).values():
        future.result(timeout=timeout)
    return len(wanted)


def pipeline_names(settings: Any) -> PipelineNames:
    """What the ACLs name, from resolved SECURE_OPTIONS."""
    return PipelineNames(
        settings.input_topic,
        settings.output_topic,
        settings.dlq_topic,
        settings.group_id,
        settings.dashboard_group_id,
        transactional_id_prefix=transactional_id_prefix(settings.group_id),
    )


def transactional_id_prefix(group_id: str) -> str:
    """What every exactly-once consumer instance's transactional.id starts with (consumer.service.ServiceConfig)."""
    return f"sentiment-consumer.{group_id}."


def secure_setup(broker: SecureLocalKafka, settings: Any) -> str:
    """Create the pipeline's topics and its users' ACLs on a running secure broker; say what was done."""
    names = pipeline_names(settings)
    topics = create_topics(
        broker.client_config(), [names.input_topic, names.output_topic, names.dlq_topic], settings.partitions
    )
    granted = apply_acls(broker.client_config(), pipeline_acls(names))
    return "\n".join(
        [
            "topics: " + ", ".join(f"{name} ({outcome})" for name, outcome in topics.items()),
            f"ACLs: {granted} granted to users {', '.join(u for u in USERS if u != SUPER_USER)}; "
            f"{SUPER_USER} is the super user",
            f"CA certificate: {broker.ca_file}",
            "client settings of a user: sentiment-kafka "
            + ("" if broker.port == SECURE_PORT else f"--port {broker.port} ")
            + f"print-env {{{','.join(USERS)}}}",
        ]
    )


def client_env(config: Mapping[str, str]) -> list[str]:
    """``config`` as the SENTIMENT_* lines every command reads (bootstrap option plus the librdkafka pass-through)."""
    lines = [f"SENTIMENT_BOOTSTRAP_SERVERS={config['bootstrap.servers']}"]
    for key, value in config.items():
        if key != "bootstrap.servers":
            lines.append(f"SENTIMENT_KAFKA_{key.upper().replace('.', '_')}={value}")
    return lines


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def _write_private(path: Path, text: str) -> None:
    """Write a secret owner-only from its first byte (no window where others may read it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
