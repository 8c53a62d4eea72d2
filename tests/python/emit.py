"""Sends one span, one counter and one log record to ccpipe with the real
OpenTelemetry Python SDK exporters, over the protocol named on the command line.

usage: emit.py grpc|http ENDPOINT     (e.g. grpc http://127.0.0.1:4317)
Exits non-zero if any exporter reports a failure.
"""
import logging
import sys

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

proto, endpoint = sys.argv[1], sys.argv[2]
if proto == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    kw = lambda signal: {"endpoint": endpoint, "insecure": True}
else:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    kw = lambda signal: {"endpoint": f"{endpoint}/v1/{signal}"}

failures = []


def checked(exporter, ok_value, name):
    """Wraps an exporter's export() to record failures instead of only logging them."""
    inner = exporter.export

    def export(*args, **kwargs):
        result = inner(*args, **kwargs)
        if result != ok_value and str(result) != str(ok_value):
            failures.append(f"{name}: {result}")
        return result

    exporter.export = export
    return exporter


resource = Resource.create({"service.name": f"sdk-{proto}", "test.run": "ccpipe"})

spans = checked(OTLPSpanExporter(**kw("traces")), SpanExportResult.SUCCESS, "traces")
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
with tracer_provider.get_tracer("ccpipe.test").start_as_current_span(f"sdk-{proto}-span") as span:
    span.set_attribute("answer", 42)

metrics_exporter = checked(OTLPMetricExporter(**kw("metrics")), MetricExportResult.SUCCESS, "metrics")
reader = PeriodicExportingMetricReader(metrics_exporter, export_interval_millis=60_000)
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
meter_provider.get_meter("ccpipe.test").create_counter(f"sdk.{proto}.requests").add(3, {"route": "/x"})

logs_exporter = OTLPLogExporter(**kw("logs"))
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs_exporter))
log = logging.getLogger("ccpipe.test")
log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))
log.setLevel(logging.INFO)
log.warning("sdk-%s-log", proto)

meter_provider.force_flush()
logger_provider.force_flush()
tracer_provider.shutdown()
meter_provider.shutdown()
logger_provider.shutdown()

if failures:
    print("export failures:", failures, file=sys.stderr)
    sys.exit(1)
print("sent")
