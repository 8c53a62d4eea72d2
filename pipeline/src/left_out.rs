//! A component type this build of ccpipe was compiled without (a cargo
//! feature turned off, as in the default container image): a config that
//! uses it fails `validate` naming the file, line and component and saying
//! which build has it, rather than "unknown type".

use crate::config::{ComponentConfig, ConfigError};
use crate::factory::{ExporterFactory, Factory, ReceiverFactory};
use crate::listeners::Listeners;
use crate::outputs::Outputs;
use crate::{BoxFuture, BuildError, BuiltExporter, Receiver};

/// The placeholder of the `type_name` components, left out with `feature`.
pub struct LeftOut {
    pub type_name: &'static str,
    /// The cargo feature that brings it in.
    pub feature: &'static str,
}

impl LeftOut {
    /// The placeholder of `type_name`, brought in by the feature of the same name.
    pub const fn named(type_name: &'static str) -> Self {
        LeftOut {
            type_name,
            feature: type_name,
        }
    }

    fn why(&self, cfg: &ComponentConfig) -> String {
        format!(
            "this ccpipe was built without the `{feature}` feature, so it has no `{name}` {kind}: \
             use a build with it (the container image tagged `-{feature}`, or \
             `cargo build --features {feature}`)",
            feature = self.feature,
            name = self.type_name,
            kind = cfg.kind().noun(),
        )
    }
}

impl Factory for LeftOut {
    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        Err(cfg.error("", self.why(cfg)))
    }
}

impl ReceiverFactory for LeftOut {
    fn build<'a>(
        &'a self,
        cfg: &'a ComponentConfig,
        _: Outputs,
        _: &'a Listeners,
    ) -> BoxFuture<'a, Result<Box<dyn Receiver>, BuildError>> {
        Box::pin(async move { Err(BuildError::new(cfg.kind(), cfg.id(), self.why(cfg))) })
    }
}

impl ExporterFactory for LeftOut {
    fn build(&self, cfg: &ComponentConfig, _: &Listeners) -> Result<BuiltExporter, BuildError> {
        Err(BuildError::new(cfg.kind(), cfg.id(), self.why(cfg)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    const KAFKA: LeftOut = LeftOut::named("kafka");

    #[test]
    fn a_left_out_component_fails_validation_at_its_line_naming_the_build() {
        let yaml = "receivers:\n  otlp: {}\n  kafka/in:\n    brokers: [k:9092]\n\
                    exporters:\n  kafka: {}\n\
                    service:\n  pipelines:\n    logs: { receivers: [kafka/in], exporters: [kafka] }\n";
        let config = load_str("edge.yaml", yaml).unwrap();
        let cases = [
            (
                &config.receivers,
                "edge.yaml:3: receivers.kafka/in:",
                "kafka` receiver",
            ),
            (
                &config.exporters,
                "edge.yaml:6: exporters.kafka:",
                "kafka` exporter",
            ),
        ];
        for (section, at, what) in cases {
            let cfg = section
                .values()
                .find(|c| c.id().to_string().starts_with("kafka"));
            let e = Factory::validate(&KAFKA, cfg.unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains(at), "{e}");
            assert!(e.contains(what), "{e}");
            assert!(e.contains("built without the `kafka` feature"), "{e}");
            assert!(e.contains("tagged `-kafka`"), "{e}");
        }
    }
}
