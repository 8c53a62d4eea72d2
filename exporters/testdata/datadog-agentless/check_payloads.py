#!/usr/bin/env python3
"""Checks the golden agentless payloads against Datadog's published API models.

series.json and logs.json beside this script are what the agentless datadog
exporter sends for the first recorded Claude Code session (written by the
test `payloads_of_the_first_captured_session_match_the_golden_files`). This
script deserialises them with the models of the official `datadog-api-client`
package (MetricPayload for POST /api/v2/series, HTTPLog for POST /api/v2/logs)
with type checking on, and checks the intake limits the models cannot express.

    python3 -m venv /tmp/ddvenv && /tmp/ddvenv/bin/pip install datadog-api-client
    /tmp/ddvenv/bin/python exporters/testdata/datadog-agentless/check_payloads.py

Prints "N passed, N failed" and exits non-zero on any failure.
"""

import json
import os
import re
import sys

from datadog_api_client import Configuration
from datadog_api_client.api_client import ApiClient
from datadog_api_client.v2.model.http_log import HTTPLog
from datadog_api_client.v2.model.metric_intake_type import MetricIntakeType
from datadog_api_client.v2.model.metric_payload import MetricPayload

HERE = os.path.dirname(os.path.abspath(__file__))
TAG = re.compile(r"^[a-z][a-z0-9_:./-]{0,199}$")
passed = failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok    {name}")
    except Exception as e:  # noqa: BLE001 - report every failure
        failed += 1
        print(f"FAIL  {name}: {type(e).__name__}: {e}")


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


CLIENT = ApiClient(Configuration())


def convert(data, model):
    """Deserialises as the client does; it marks (rather than raises on) data
    that does not fit the model, so check the mark."""
    value = CLIENT.deserialize(json.dumps(data), (model,), True)
    assert not value._unparsed, f"does not fit {model.__name__}"
    return value


def detects_bad_payloads():
    bad = load("series.json")
    bad["series"][0]["type"] = 7
    try:
        convert(bad, MetricPayload)
    except AssertionError:
        pass
    else:
        raise AssertionError("a series of type 7 passed: the check checks nothing")
    bad = load("logs.json")
    bad[0]["message"] = 5
    try:
        convert(bad, HTTPLog)
    except AssertionError:
        return
    raise AssertionError("a numeric message passed: the check checks nothing")


def series_model():
    payload = convert(load("series.json"), MetricPayload)
    assert len(payload.series) > 0
    for s in payload.series:
        assert s.type in (MetricIntakeType.COUNT, MetricIntakeType.GAUGE), s.type
        assert len(s.points) == 1


def series_tags():
    for s in load("series.json")["series"]:
        for t in s["tags"]:
            assert TAG.match(t) and "__" not in t and not t.endswith("_"), t
        assert s["resources"] == [{"type": "host", "name": "h1"}]


def logs_model():
    logs = convert(load("logs.json"), HTTPLog)
    assert len(logs.value) > 0
    for item in logs.value:
        assert item.ddsource == "claude-code"
        assert item.service == "claude-code"
        assert item.hostname == "h1"
        assert item.message.startswith("claude_code.")


def logs_limits():
    entries = load("logs.json")
    assert len(entries) <= 1000
    for e in entries:
        assert len(json.dumps(e).encode()) <= 1_000_000
        assert isinstance(e["timestamp"], int)
        for t in e["ddtags"].split(","):
            assert TAG.match(t), t


check("the check rejects payloads that do not fit", detects_bad_payloads)
check("series.json deserialises as MetricPayload", series_model)
check("series.json tags are normalised", series_tags)
check("logs.json deserialises as HTTPLog", logs_model)
check("logs.json is within the intake limits", logs_limits)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
