//! Metric messages: their JSON fields, read and written.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, AggregationTemporality, DataPointFlags, Exemplar,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use serde::de::MapAccess;

use super::common::attrs;
use super::decode::{msg, set_oneof, skip, Message};
use super::encode::{write_double, write_quoted_int, Encode, Obj};
use super::scalars::{
    boolean, double, enumeration, flags, int, list, span_id, string, trace_id, OptSeed,
};

fn temporality(s: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(s).map(|v| v as i32)
}

fn data_point_flag(s: &str) -> Option<i32> {
    DataPointFlags::from_str_name(s).map(|v| v as i32)
}

impl Message for ExportMetricsServiceRequest {
    const NAME: &'static str = "ExportMetricsServiceRequest";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "resourceMetrics" | "resource_metrics" => {
                self.resource_metrics = map.next_value_seed(list("resourceMetrics", msg()))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for ResourceMetrics {
    const NAME: &'static str = "ResourceMetrics";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "resource" => self.resource = map.next_value_seed(OptSeed(msg()))?,
            "scopeMetrics" | "scope_metrics" => {
                self.scope_metrics = map.next_value_seed(list("scopeMetrics", msg()))?
            }
            "schemaUrl" | "schema_url" => {
                self.schema_url = map.next_value_seed(string("schemaUrl"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for ScopeMetrics {
    const NAME: &'static str = "ScopeMetrics";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "scope" => self.scope = map.next_value_seed(OptSeed(msg()))?,
            "metrics" => self.metrics = map.next_value_seed(list("metrics", msg()))?,
            "schemaUrl" | "schema_url" => {
                self.schema_url = map.next_value_seed(string("schemaUrl"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for Metric {
    const NAME: &'static str = "Metric";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        let data = match key {
            "name" => {
                self.name = map.next_value_seed(string("name"))?;
                return Ok(());
            }
            "description" => {
                self.description = map.next_value_seed(string("description"))?;
                return Ok(());
            }
            "unit" => {
                self.unit = map.next_value_seed(string("unit"))?;
                return Ok(());
            }
            "metadata" => {
                self.metadata = map.next_value_seed(attrs("metadata"))?;
                return Ok(());
            }
            "gauge" => map.next_value_seed(OptSeed(msg()))?.map(Data::Gauge),
            "sum" => map.next_value_seed(OptSeed(msg()))?.map(Data::Sum),
            "histogram" => map.next_value_seed(OptSeed(msg()))?.map(Data::Histogram),
            "exponentialHistogram" | "exponential_histogram" => map
                .next_value_seed(OptSeed(msg()))?
                .map(Data::ExponentialHistogram),
            "summary" => map.next_value_seed(OptSeed(msg()))?.map(Data::Summary),
            _ => return skip(map),
        };
        set_oneof(&mut self.data, data, "Metric")
    }
}

impl Message for Gauge {
    const NAME: &'static str = "Gauge";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "dataPoints" | "data_points" => {
                self.data_points = map.next_value_seed(list("dataPoints", msg()))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for Sum {
    const NAME: &'static str = "Sum";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "dataPoints" | "data_points" => {
                self.data_points = map.next_value_seed(list("dataPoints", msg()))?
            }
            "aggregationTemporality" | "aggregation_temporality" => {
                self.aggregation_temporality =
                    map.next_value_seed(enumeration("aggregationTemporality", temporality))?
            }
            "isMonotonic" | "is_monotonic" => {
                self.is_monotonic = map.next_value_seed(boolean("isMonotonic"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for Histogram {
    const NAME: &'static str = "Histogram";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "dataPoints" | "data_points" => {
                self.data_points = map.next_value_seed(list("dataPoints", msg()))?
            }
            "aggregationTemporality" | "aggregation_temporality" => {
                self.aggregation_temporality =
                    map.next_value_seed(enumeration("aggregationTemporality", temporality))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for ExponentialHistogram {
    const NAME: &'static str = "ExponentialHistogram";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "dataPoints" | "data_points" => {
                self.data_points = map.next_value_seed(list("dataPoints", msg()))?
            }
            "aggregationTemporality" | "aggregation_temporality" => {
                self.aggregation_temporality =
                    map.next_value_seed(enumeration("aggregationTemporality", temporality))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for Summary {
    const NAME: &'static str = "Summary";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "dataPoints" | "data_points" => {
                self.data_points = map.next_value_seed(list("dataPoints", msg()))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for NumberDataPoint {
    const NAME: &'static str = "NumberDataPoint";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        use number_data_point::Value;
        let value = match key {
            "asDouble" | "as_double" => map
                .next_value_seed(OptSeed(double("asDouble")))?
                .map(Value::AsDouble),
            "asInt" | "as_int" => map
                .next_value_seed(OptSeed(int("asInt")))?
                .map(Value::AsInt),
            "attributes" => {
                self.attributes = map.next_value_seed(attrs("attributes"))?;
                return Ok(());
            }
            "startTimeUnixNano" | "start_time_unix_nano" => {
                self.start_time_unix_nano = map.next_value_seed(int("startTimeUnixNano"))?;
                return Ok(());
            }
            "timeUnixNano" | "time_unix_nano" => {
                self.time_unix_nano = map.next_value_seed(int("timeUnixNano"))?;
                return Ok(());
            }
            "exemplars" => {
                self.exemplars = map.next_value_seed(list("exemplars", msg()))?;
                return Ok(());
            }
            "flags" => {
                self.flags = map.next_value_seed(flags("flags", data_point_flag))?;
                return Ok(());
            }
            _ => return skip(map),
        };
        set_oneof(&mut self.value, value, "NumberDataPoint")
    }
}

impl Message for HistogramDataPoint {
    const NAME: &'static str = "HistogramDataPoint";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "attributes" => self.attributes = map.next_value_seed(attrs("attributes"))?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                self.start_time_unix_nano = map.next_value_seed(int("startTimeUnixNano"))?
            }
            "timeUnixNano" | "time_unix_nano" => {
                self.time_unix_nano = map.next_value_seed(int("timeUnixNano"))?
            }
            "count" => self.count = map.next_value_seed(int("count"))?,
            "sum" => self.sum = map.next_value_seed(OptSeed(double("sum")))?,
            "bucketCounts" | "bucket_counts" => {
                self.bucket_counts =
                    map.next_value_seed(list("bucketCounts", int("bucketCounts")))?
            }
            "explicitBounds" | "explicit_bounds" => {
                self.explicit_bounds =
                    map.next_value_seed(list("explicitBounds", double("explicitBounds")))?
            }
            "exemplars" => self.exemplars = map.next_value_seed(list("exemplars", msg()))?,
            "flags" => self.flags = map.next_value_seed(flags("flags", data_point_flag))?,
            "min" => self.min = map.next_value_seed(OptSeed(double("min")))?,
            "max" => self.max = map.next_value_seed(OptSeed(double("max")))?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for ExponentialHistogramDataPoint {
    const NAME: &'static str = "ExponentialHistogramDataPoint";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "attributes" => self.attributes = map.next_value_seed(attrs("attributes"))?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                self.start_time_unix_nano = map.next_value_seed(int("startTimeUnixNano"))?
            }
            "timeUnixNano" | "time_unix_nano" => {
                self.time_unix_nano = map.next_value_seed(int("timeUnixNano"))?
            }
            "count" => self.count = map.next_value_seed(int("count"))?,
            "sum" => self.sum = map.next_value_seed(OptSeed(double("sum")))?,
            "scale" => self.scale = map.next_value_seed(int("scale"))?,
            "zeroCount" | "zero_count" => {
                self.zero_count = map.next_value_seed(int("zeroCount"))?
            }
            "positive" => self.positive = map.next_value_seed(OptSeed(msg()))?,
            "negative" => self.negative = map.next_value_seed(OptSeed(msg()))?,
            "flags" => self.flags = map.next_value_seed(flags("flags", data_point_flag))?,
            "exemplars" => self.exemplars = map.next_value_seed(list("exemplars", msg()))?,
            "min" => self.min = map.next_value_seed(OptSeed(double("min")))?,
            "max" => self.max = map.next_value_seed(OptSeed(double("max")))?,
            "zeroThreshold" | "zero_threshold" => {
                self.zero_threshold = map.next_value_seed(double("zeroThreshold"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for Buckets {
    const NAME: &'static str = "Buckets";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "offset" => self.offset = map.next_value_seed(int("offset"))?,
            "bucketCounts" | "bucket_counts" => {
                self.bucket_counts =
                    map.next_value_seed(list("bucketCounts", int("bucketCounts")))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for SummaryDataPoint {
    const NAME: &'static str = "SummaryDataPoint";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "attributes" => self.attributes = map.next_value_seed(attrs("attributes"))?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                self.start_time_unix_nano = map.next_value_seed(int("startTimeUnixNano"))?
            }
            "timeUnixNano" | "time_unix_nano" => {
                self.time_unix_nano = map.next_value_seed(int("timeUnixNano"))?
            }
            "count" => self.count = map.next_value_seed(int("count"))?,
            "sum" => self.sum = map.next_value_seed(double("sum"))?,
            "quantileValues" | "quantile_values" => {
                self.quantile_values = map.next_value_seed(list("quantileValues", msg()))?
            }
            "flags" => self.flags = map.next_value_seed(flags("flags", data_point_flag))?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for ValueAtQuantile {
    const NAME: &'static str = "ValueAtQuantile";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "quantile" => self.quantile = map.next_value_seed(double("quantile"))?,
            "value" => self.value = map.next_value_seed(double("value"))?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for Exemplar {
    const NAME: &'static str = "Exemplar";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        use exemplar::Value;
        let value = match key {
            "asDouble" | "as_double" => map
                .next_value_seed(OptSeed(double("asDouble")))?
                .map(Value::AsDouble),
            "asInt" | "as_int" => map
                .next_value_seed(OptSeed(int("asInt")))?
                .map(Value::AsInt),
            "filteredAttributes" | "filtered_attributes" => {
                self.filtered_attributes = map.next_value_seed(attrs("filteredAttributes"))?;
                return Ok(());
            }
            "timeUnixNano" | "time_unix_nano" => {
                self.time_unix_nano = map.next_value_seed(int("timeUnixNano"))?;
                return Ok(());
            }
            "spanId" | "span_id" => {
                self.span_id = map.next_value_seed(span_id("spanId"))?;
                return Ok(());
            }
            "traceId" | "trace_id" => {
                self.trace_id = map.next_value_seed(trace_id("traceId"))?;
                return Ok(());
            }
            _ => return skip(map),
        };
        set_oneof(&mut self.value, value, "Exemplar")
    }
}

impl Encode for ExportMetricsServiceRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("resourceMetrics", &self.resource_metrics);
        o.end();
    }
}

impl Encode for ResourceMetrics {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.msg("resource", self.resource.as_ref());
        o.list("scopeMetrics", &self.scope_metrics);
        o.string("schemaUrl", &self.schema_url);
        o.end();
    }
}

impl Encode for ScopeMetrics {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.msg("scope", self.scope.as_ref());
        o.list("metrics", &self.metrics);
        o.string("schemaUrl", &self.schema_url);
        o.end();
    }
}

impl Encode for Metric {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.string("name", &self.name);
        o.string("description", &self.description);
        o.string("unit", &self.unit);
        match &self.data {
            Some(Data::Gauge(g)) => o.msg("gauge", Some(g)),
            Some(Data::Sum(s)) => o.msg("sum", Some(s)),
            Some(Data::Histogram(h)) => o.msg("histogram", Some(h)),
            Some(Data::ExponentialHistogram(h)) => o.msg("exponentialHistogram", Some(h)),
            Some(Data::Summary(s)) => o.msg("summary", Some(s)),
            None => {}
        }
        o.list("metadata", &self.metadata);
        o.end();
    }
}

impl Encode for Gauge {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("dataPoints", &self.data_points);
        o.end();
    }
}

impl Encode for Sum {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("dataPoints", &self.data_points);
        o.int("aggregationTemporality", self.aggregation_temporality);
        o.boolean("isMonotonic", self.is_monotonic);
        o.end();
    }
}

impl Encode for Histogram {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("dataPoints", &self.data_points);
        o.int("aggregationTemporality", self.aggregation_temporality);
        o.end();
    }
}

impl Encode for ExponentialHistogram {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("dataPoints", &self.data_points);
        o.int("aggregationTemporality", self.aggregation_temporality);
        o.end();
    }
}

impl Encode for Summary {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("dataPoints", &self.data_points);
        o.end();
    }
}

impl Encode for NumberDataPoint {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("attributes", &self.attributes);
        o.long("startTimeUnixNano", self.start_time_unix_nano);
        o.long("timeUnixNano", self.time_unix_nano);
        match self.value {
            Some(number_data_point::Value::AsDouble(d)) => write_double(d, o.key("asDouble")),
            Some(number_data_point::Value::AsInt(i)) => write_quoted_int(i, o.key("asInt")),
            None => {}
        }
        o.list("exemplars", &self.exemplars);
        o.int("flags", self.flags);
        o.end();
    }
}

impl Encode for HistogramDataPoint {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("attributes", &self.attributes);
        o.long("startTimeUnixNano", self.start_time_unix_nano);
        o.long("timeUnixNano", self.time_unix_nano);
        o.long("count", self.count);
        o.opt_double("sum", self.sum);
        o.list_with("bucketCounts", &self.bucket_counts, |n, out| {
            write_quoted_int(*n, out)
        });
        o.list_with("explicitBounds", &self.explicit_bounds, |d, out| {
            write_double(*d, out)
        });
        o.list("exemplars", &self.exemplars);
        o.int("flags", self.flags);
        o.opt_double("min", self.min);
        o.opt_double("max", self.max);
        o.end();
    }
}

impl Encode for ExponentialHistogramDataPoint {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("attributes", &self.attributes);
        o.long("startTimeUnixNano", self.start_time_unix_nano);
        o.long("timeUnixNano", self.time_unix_nano);
        o.long("count", self.count);
        o.opt_double("sum", self.sum);
        o.int("scale", self.scale);
        o.long("zeroCount", self.zero_count);
        o.msg("positive", self.positive.as_ref());
        o.msg("negative", self.negative.as_ref());
        o.int("flags", self.flags);
        o.list("exemplars", &self.exemplars);
        o.opt_double("min", self.min);
        o.opt_double("max", self.max);
        o.double("zeroThreshold", self.zero_threshold);
        o.end();
    }
}

impl Encode for Buckets {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.int("offset", self.offset);
        o.list_with("bucketCounts", &self.bucket_counts, |n, out| {
            write_quoted_int(*n, out)
        });
        o.end();
    }
}

impl Encode for SummaryDataPoint {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("attributes", &self.attributes);
        o.long("startTimeUnixNano", self.start_time_unix_nano);
        o.long("timeUnixNano", self.time_unix_nano);
        o.long("count", self.count);
        o.double("sum", self.sum);
        o.list("quantileValues", &self.quantile_values);
        o.int("flags", self.flags);
        o.end();
    }
}

impl Encode for ValueAtQuantile {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.double("quantile", self.quantile);
        o.double("value", self.value);
        o.end();
    }
}

impl Encode for Exemplar {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("filteredAttributes", &self.filtered_attributes);
        o.long("timeUnixNano", self.time_unix_nano);
        match self.value {
            Some(exemplar::Value::AsDouble(d)) => write_double(d, o.key("asDouble")),
            Some(exemplar::Value::AsInt(i)) => write_quoted_int(i, o.key("asInt")),
            None => {}
        }
        o.hex("spanId", &self.span_id);
        o.hex("traceId", &self.trace_id);
        o.end();
    }
}
