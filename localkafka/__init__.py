"""The local stack: the Apache Kafka broker that tests, benchmarks and the demo share (``sentiment-kafka``), the demo
(``python -m localkafka.demo``) and the helpers tests and benchmarks share to drive services on it."""

from localkafka.broker import KAFKA_VERSION, BrokerError, LocalKafka
from localkafka.topics import create_topics, delete_topics, scratch_topics

__all__ = ["KAFKA_VERSION", "BrokerError", "LocalKafka", "create_topics", "delete_topics", "scratch_topics"]
