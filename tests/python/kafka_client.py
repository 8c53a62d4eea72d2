"""An independent Kafka client for tests/kafka.rs (kafka-python, not librdkafka).

  kafka_client.py produce BROKER TOPIC FILE   one message, the file's bytes, acks=all
  kafka_client.py consume BROKER TOPIC N      reads otlp_proto logs until N records;
                                              prints `key records session-ids` per message
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest


def produce(broker, topic, path):
    with open(path, "rb") as f:
        value = f.read()
    producer = KafkaProducer(bootstrap_servers=[broker], acks="all")
    producer.send(topic, value=value).get(timeout=30)
    producer.flush()
    producer.close()


def session_ids(request):
    ids = set()
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                for kv in record.attributes:
                    if kv.key == "session.id":
                        ids.add(kv.value.string_value)
    return ids


def consume(broker, topic, want):
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[broker],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=1000,
    )
    seen = 0
    deadline = time.time() + 60
    while seen < want and time.time() < deadline:
        for message in consumer:
            request = ExportLogsServiceRequest.FromString(message.value)
            records = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
            key = message.key.decode() if message.key is not None else "-"
            print(key, records, ",".join(sorted(session_ids(request))), flush=True)
            seen += records
            if seen >= want:
                break
    consumer.close()
    if seen < want:
        sys.exit(f"read {seen} of {want} records from {topic}")


if __name__ == "__main__":
    command, broker, topic, arg = sys.argv[1:5]
    if command == "produce":
        produce(broker, topic, arg)
    elif command == "consume":
        consume(broker, topic, int(arg))
    else:
        sys.exit(f"unknown command {command}")
