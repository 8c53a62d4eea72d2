//! The resource attributes Datadog needs, added to every batch before it is
//! sent (both modes): the Agent maps `service.name` → service,
//! `deployment.environment.name` → env and `datadog.host.name` → host, and
//! Claude Code sends neither env nor host.
//!
//! The batch is shared with other exporters through an `Arc`, so it is never
//! changed in place. Agent mode sends it as protobuf: [`Enrichment::encode`]
//! writes the request with each changed resource in place of the shared one,
//! copying nothing else. Agentless mode formats the batch itself:
//! [`Enrichment::apply`] passes it on as is when every resource already has
//! the wanted values, otherwise clones it once and changes the clone.

use std::borrow::Cow;

use ccpipe_pipeline::Encoded;
use ccpipe_pipeline::Records;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::config::EnrichSettings;

pub const SERVICE_NAME: &str = "service.name";
pub const ENV: &str = "deployment.environment.name";
/// The pre-1.27 semantic-conventions name, which older Agents map.
pub const ENV_LEGACY: &str = "deployment.environment";
pub const HOST_NAME: &str = "datadog.host.name";

/// The attributes to set on every resource.
#[derive(Debug, Clone)]
pub struct Enrichment {
    /// Set whatever the resource has (env, host, tags).
    upsert: Vec<(String, String)>,
    service: String,
    /// `override: true`: `service.name` is replaced too.
    force_service: bool,
}

impl Enrichment {
    pub fn new(s: &EnrichSettings) -> Self {
        let mut upsert = Vec::new();
        if let Some(env) = &s.env {
            upsert.push((ENV.to_owned(), env.clone()));
            upsert.push((ENV_LEGACY.to_owned(), env.clone()));
        }
        if let Some(host) = &s.hostname {
            upsert.push((HOST_NAME.to_owned(), host.clone()));
        }
        upsert.extend(s.tags.iter().cloned());
        Enrichment {
            upsert,
            service: s.service.clone(),
            force_service: s.override_service,
        }
    }

    /// The batch with every resource enriched: borrowed when nothing
    /// changes, else one changed copy.
    pub fn apply<'a>(&self, batch: &'a Records) -> Cow<'a, Records> {
        let mut needed = false;
        for_each_resource(batch, |r| needed |= self.needs_change(r));
        let mut out = Cow::Borrowed(batch);
        if needed {
            for_each_resource_mut(out.to_mut(), |r| {
                self.change(r.get_or_insert_with(Resource::default))
            });
        }
        out
    }

    /// The batch as one export request with every resource enriched, equal
    /// to encoding [`Enrichment::apply`]'s batch, without copying the batch.
    pub fn encode(&self, batch: &Records) -> Encoded {
        ccpipe_pipeline::encode::to_encoded(batch, |r| {
            if self.needs_change(r) {
                let mut r = r.cloned().unwrap_or_default();
                self.change(&mut r);
                Some(Cow::Owned(r))
            } else {
                r.map(Cow::Borrowed)
            }
        })
    }

    fn needs_change(&self, r: Option<&Resource>) -> bool {
        let attrs = r.map(|r| r.attributes.as_slice()).unwrap_or_default();
        let service = string_of(attrs, SERVICE_NAME);
        let service_ok = match service {
            Some(s) => !self.force_service || s == self.service,
            None => false,
        };
        !service_ok
            || self
                .upsert
                .iter()
                .any(|(k, v)| string_of(attrs, k) != Some(v.as_str()))
    }

    fn change(&self, r: &mut Resource) {
        let has_service = r.attributes.iter().any(|kv| kv.key == SERVICE_NAME);
        if self.force_service || !has_service {
            upsert(&mut r.attributes, SERVICE_NAME, &self.service);
        }
        for (k, v) in &self.upsert {
            upsert(&mut r.attributes, k, v);
        }
    }
}

/// The value of `key` when it is a string attribute.
fn string_of<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

fn upsert(attrs: &mut Vec<KeyValue>, key: &str, value: &str) {
    let value = Some(AnyValue {
        value: Some(Value::StringValue(value.to_owned())),
    });
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => attrs.push(KeyValue {
            key: key.to_owned(),
            value,
            ..Default::default()
        }),
    }
}

fn for_each_resource(batch: &Records, mut f: impl FnMut(Option<&Resource>)) {
    match batch {
        Records::Logs(r) => r.resource_logs.iter().for_each(|x| f(x.resource.as_ref())),
        Records::Metrics(r) => r
            .resource_metrics
            .iter()
            .for_each(|x| f(x.resource.as_ref())),
        Records::Traces(r) => r.resource_spans.iter().for_each(|x| f(x.resource.as_ref())),
    }
}

fn for_each_resource_mut(batch: &mut Records, mut f: impl FnMut(&mut Option<Resource>)) {
    match batch {
        Records::Logs(r) => r.resource_logs.iter_mut().for_each(|x| f(&mut x.resource)),
        Records::Metrics(r) => r
            .resource_metrics
            .iter_mut()
            .for_each(|x| f(&mut x.resource)),
        Records::Traces(r) => r.resource_spans.iter_mut().for_each(|x| f(&mut x.resource)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use std::sync::Arc;

    fn settings() -> EnrichSettings {
        EnrichSettings {
            env: Some("prod".into()),
            service: "claude-code".into(),
            override_service: false,
            hostname: Some("laptop".into()),
            tags: vec![("team".into(), "platform".into())],
        }
    }

    /// No env, host or tags: only a missing service.name is filled.
    fn bare_settings() -> EnrichSettings {
        EnrichSettings {
            env: None,
            service: "claude-code".into(),
            override_service: false,
            hostname: None,
            tags: vec![],
        }
    }

    fn logs(resources: Vec<Option<Vec<(&str, &str)>>>) -> Arc<Records> {
        Arc::new(Records::Logs(ExportLogsServiceRequest {
            resource_logs: resources
                .into_iter()
                .map(|attrs| ResourceLogs {
                    resource: attrs.map(|a| Resource {
                        attributes: a
                            .into_iter()
                            .map(|(k, v)| KeyValue {
                                key: k.into(),
                                value: Some(AnyValue {
                                    value: Some(Value::StringValue(v.into())),
                                }),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![LogRecord::default()],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }))
    }

    fn attrs(b: &Records, i: usize) -> Vec<(String, String)> {
        let Records::Logs(r) = b else { panic!() };
        let res = r.resource_logs[i].resource.as_ref().unwrap();
        res.attributes
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    string_of(&res.attributes, &kv.key).unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn fills_env_host_tags_and_missing_service() {
        let e = Enrichment::new(&settings());
        let input = logs(vec![
            Some(vec![
                ("service.name", "other"),
                ("deployment.environment.name", "dev"),
            ]),
            None,
        ]);
        let out = e.apply(&input);
        assert!(matches!(out, Cow::Owned(_)));
        assert_eq!(
            attrs(&out, 0),
            pairs(&[
                ("service.name", "other"),
                ("deployment.environment.name", "prod"),
                ("deployment.environment", "prod"),
                ("datadog.host.name", "laptop"),
                ("team", "platform"),
            ])
        );
        assert_eq!(
            attrs(&out, 1)[0],
            pairs(&[("service.name", "claude-code")])[0]
        );
        // The shared input is untouched.
        assert_eq!(attrs(&input, 0).len(), 2);
    }

    #[test]
    fn override_forces_the_service() {
        let mut s = settings();
        s.override_service = true;
        let input = logs(vec![Some(vec![("service.name", "other")])]);
        let out = Enrichment::new(&s).apply(&input);
        assert_eq!(
            attrs(&out, 0)[0],
            pairs(&[("service.name", "claude-code")])[0]
        );
    }

    #[test]
    fn nothing_to_change_keeps_the_same_batch() {
        let done = logs(vec![Some(vec![
            ("service.name", "mine"),
            ("deployment.environment.name", "prod"),
            ("deployment.environment", "prod"),
            ("datadog.host.name", "laptop"),
            ("team", "platform"),
        ])]);
        let out = Enrichment::new(&settings()).apply(&done);
        assert!(matches!(out, Cow::Borrowed(_)));

        let bare = bare_settings();
        let input = logs(vec![Some(vec![("service.name", "claude-code")])]);
        assert!(matches!(
            Enrichment::new(&bare).apply(&input),
            Cow::Borrowed(_)
        ));
    }

    /// Agent mode's encoding with resources replaced on the way out: the same
    /// bytes as the enriched copy, for every capture and every shape of
    /// resources above, with each kind of settings.
    #[test]
    fn encode_equals_the_enriched_copy_encoded() {
        use ccpipe_pipeline::Encoded as Wire;
        use prost::Message;
        let bytes = |b: &Records| match b {
            Records::Logs(r) => r.encode_to_vec(),
            Records::Metrics(r) => r.encode_to_vec(),
            Records::Traces(r) => r.encode_to_vec(),
        };
        let mut batches: Vec<Arc<Records>> = ccpipe_pipeline::testing::capture_bins()
            .into_iter()
            .map(|(signal, b)| Arc::new(Wire::new(signal, b.into()).unwrap().decode().unwrap()))
            .collect();
        batches.push(logs(vec![
            Some(vec![("service.name", "other"), ("team", "x")]),
            None,
            Some(vec![]),
            Some(vec![
                ("service.name", "claude-code"),
                ("deployment.environment.name", "prod"),
                ("deployment.environment", "prod"),
                ("datadog.host.name", "laptop"),
                ("team", "platform"),
            ]),
        ]));
        let mut forced = settings();
        forced.override_service = true;
        let bare = bare_settings();
        for s in [settings(), forced, bare] {
            let e = Enrichment::new(&s);
            for b in &batches {
                let got = e.encode(b);
                assert_eq!(got.parts().concat(), bytes(&e.apply(b)), "{s:?}");
                assert_eq!(got.item_count(), b.item_count());
            }
        }
    }
}
