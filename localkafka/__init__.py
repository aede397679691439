"""The local Apache Kafka broker that tests, benchmarks and the demo share (``sentiment-kafka``)."""

from localkafka.broker import KAFKA_VERSION, BrokerError, LocalKafka
from localkafka.topics import create_topics, delete_topics, scratch_topics

__all__ = ["KAFKA_VERSION", "BrokerError", "LocalKafka", "create_topics", "delete_topics", "scratch_topics"]
