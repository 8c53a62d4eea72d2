//! One factory per component type, as the Collector's `NewFactory`: its type
//! name, the signals it takes, a pure `validate` (no IO) and a `build`. Each
//! component crate's `lib.rs` is a list of these; the service looks types
//! up in the lists, so adding a component is its module plus one line.

use std::marker::PhantomData;
use std::path::PathBuf;

use crate::chain::Stage;
use crate::config::{ComponentConfig, Config, ConfigError, Invalid};
use crate::connector::BuiltConnector;
use crate::listeners::Listeners;
use crate::outputs::Outputs;
use crate::{BoxFuture, BuildError, BuiltExporter, Receiver, Signal};

/// What every factory has: the type name written in configs.
pub trait Factory: Sync {
    fn type_name(&self) -> &'static str;

    /// The signals a component of this type can take in some configuration.
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    /// Parses and checks `cfg` without opening anything.
    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError>;
}

pub trait ReceiverFactory: Factory {
    /// Builds the receiver and binds its sockets through `listeners` (reusing
    /// those of the graph before, on reload); it serves once run.
    fn build<'a>(
        &'a self,
        cfg: &'a ComponentConfig,
        outputs: Outputs,
        listeners: &'a Listeners,
    ) -> BoxFuture<'a, Result<Box<dyn Receiver>, BuildError>>;
}

pub trait ProcessorFactory: Factory {
    /// Builds the chain stage for `cfg` in a pipeline of `signal`.
    fn build(&self, cfg: &ComponentConfig, signal: Signal) -> Result<Stage, BuildError>;

    /// Whether it holds records from one request to a later one (batching).
    /// Such a processor cannot run in a pipeline with a durable queue: the
    /// receiver is answered once a request is on disk, not in memory.
    fn holds_records(&self) -> bool {
        false
    }
}

pub trait ExporterFactory: Factory {
    /// Why this configuration cannot take `signal` (beyond [`Factory::signals`]),
    /// e.g. an `otlp_http` exporter with only a `logs_endpoint`.
    fn unsupported(
        &self,
        cfg: &ComponentConfig,
        signal: Signal,
    ) -> Result<Option<String>, ConfigError> {
        let _ = cfg;
        Ok((!self.signals().contains(&signal)).then(|| {
            let takes: Vec<String> = self.signals().iter().map(|s| s.to_string()).collect();
            format!("it takes {} only", takes.join(" and "))
        }))
    }

    /// The directory of its durable queue (`sending_queue.storage`), if it
    /// has one; `None` for a config that does not parse (reported by
    /// [`Factory::validate`]).
    fn queue_storage(&self, cfg: &ComponentConfig) -> Option<PathBuf> {
        let _ = cfg;
        None
    }

    /// Builds the exporter and starts what it runs (threads, files, a
    /// listening socket bound through `listeners`), so a path that cannot be
    /// written or a taken port fails at startup.
    fn build(
        &self,
        cfg: &ComponentConfig,
        listeners: &Listeners,
    ) -> Result<BuiltExporter, BuildError>;
}

pub trait ConnectorFactory: Factory {
    /// The (consumed, produced) signal pairs it joins.
    fn pairs(&self) -> &'static [(Signal, Signal)];

    /// Builds the connector; start it with [`crate::connector::start`].
    fn build(&self, cfg: &ComponentConfig) -> Result<BuiltConnector, BuildError>;
}

/// A component's config type: its type name, read strictly from YAML and
/// checked without IO. A processor or connector whose factory is only
/// "parse, validate, build" implements [`ProcessorSettings`] or
/// [`ConnectorSettings`] on it too, and [`Typed`] is its factory.
pub trait ComponentSettings: serde::de::DeserializeOwned {
    /// The type name written in configs.
    const TYPE: &'static str;

    /// Pure checks; an error names the key it is about.
    fn validate(&self) -> Result<(), Invalid>;
}

/// `cfg` typed as `C` and validated; an error names the file, line and key.
pub fn parse_valid<C: ComponentSettings>(cfg: &ComponentConfig) -> Result<C, ConfigError> {
    let c: C = cfg.parse()?;
    c.validate().map_err(|e| cfg.locate(e))?;
    Ok(c)
}

/// The config type of a processor: how a validated config becomes a stage.
pub trait ProcessorSettings: ComponentSettings {
    /// See [`ProcessorFactory::holds_records`].
    const HOLDS_RECORDS: bool = false;

    /// The chain stage for `self` (validated) in a pipeline of `signal`;
    /// `cfg` names it.
    fn stage(self, cfg: &ComponentConfig, signal: Signal) -> Result<Stage, Invalid>;
}

/// The config type of a connector: the signals it joins and how a validated
/// config becomes the connector.
pub trait ConnectorSettings: ComponentSettings {
    /// See [`ConnectorFactory::pairs`].
    const PAIRS: &'static [(Signal, Signal)];

    /// The connector for `self` (validated), named `id` in metrics.
    fn connector(self, id: &str) -> BuiltConnector;
}

/// The factory of a component type whose config type says all there is:
/// each such module writes `pub type Factory = Typed<ItsConfig>;` and its
/// crate lists `&its_module::Factory::new()`.
pub struct Typed<C>(PhantomData<fn() -> C>);

impl<C> Typed<C> {
    pub const fn new() -> Self {
        Typed(PhantomData)
    }
}

impl<C> Default for Typed<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: ComponentSettings> Factory for Typed<C> {
    fn type_name(&self) -> &'static str {
        C::TYPE
    }

    fn validate(&self, cfg: &ComponentConfig) -> Result<(), ConfigError> {
        parse_valid::<C>(cfg).map(drop)
    }
}

impl<C: ProcessorSettings> ProcessorFactory for Typed<C> {
    fn build(&self, cfg: &ComponentConfig, signal: Signal) -> Result<Stage, BuildError> {
        let c: C = parse_valid(cfg)?;
        Ok(c.stage(cfg, signal).map_err(|e| cfg.locate(e))?)
    }

    fn holds_records(&self) -> bool {
        C::HOLDS_RECORDS
    }
}

impl<C: ConnectorSettings> ConnectorFactory for Typed<C> {
    fn pairs(&self) -> &'static [(Signal, Signal)] {
        C::PAIRS
    }

    fn build(&self, cfg: &ComponentConfig) -> Result<BuiltConnector, BuildError> {
        let c: C = parse_valid(cfg)?;
        Ok(c.connector(&cfg.id().to_string()))
    }
}

/// The factory of `cfg`'s type in `factories`, or the Collector's error
/// naming the known types.
pub fn lookup<'a, F: Factory + ?Sized>(
    factories: &[&'a F],
    cfg: &ComponentConfig,
) -> Result<&'a F, ConfigError> {
    let name = cfg.id().type_name();
    factories
        .iter()
        .find(|f| f.type_name() == name)
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = factories.iter().map(|f| f.type_name()).collect();
            cfg.error(
                "",
                format!(
                    "unknown {} type {name:?}; known types: {}",
                    cfg.kind().noun(),
                    known.join(", ")
                ),
            )
        })
}

/// Looks up `cfg`'s factory and validates `cfg` with it.
pub fn validate<F: Factory + ?Sized>(
    factories: &[&F],
    cfg: &ComponentConfig,
) -> Result<(), ConfigError> {
    lookup(factories, cfg)?.validate(cfg)
}

/// A processor that holds records (batch) in a pipeline with a durable
/// queue: the receiver is answered once a request is on disk, so nothing
/// may wait in memory before it gets there. Refused, at the processor's key.
pub fn held_before_durable_queues(
    config: &Config,
    processors: &[&dyn ProcessorFactory],
    exporters: &[&dyn ExporterFactory],
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (pid, p) in &config.service.pipelines {
        let durable = p.exporters.iter().find(|id| {
            config.exporters.get(*id).is_some_and(|cfg| {
                lookup(exporters, cfg).is_ok_and(|f| f.queue_storage(cfg).is_some())
            })
        });
        let Some(exporter) = durable else { continue };
        for id in &p.processors {
            let Some(cfg) = config.processors.get(id) else {
                continue;
            };
            if lookup(processors, cfg).is_ok_and(|f| f.holds_records()) {
                errors.push(cfg.error(
                    "",
                    format!(
                        "cannot run in pipeline \"{pid}\": its exporter \"{exporter}\" has a durable queue (sending_queue.storage), which answers each request once it is on disk, and this processor would hold records in memory first; remove \"{id}\" from the pipeline's processors (the export task reads the queue in batches of up to 8192 items or 2 MiB)"
                    ),
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    struct Named(&'static str);

    impl Factory for Named {
        fn type_name(&self) -> &'static str {
            self.0
        }
        fn validate(&self, _: &ComponentConfig) -> Result<(), ConfigError> {
            Ok(())
        }
    }

    /// A processor whose config says it all: `size` must be positive.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sizes {
        size: usize,
    }

    impl ComponentSettings for Sizes {
        const TYPE: &'static str = "sizes";

        fn validate(&self) -> Result<(), Invalid> {
            if self.size == 0 {
                return Err(Invalid::new("size", "must be at least 1"));
            }
            Ok(())
        }
    }

    impl ProcessorSettings for Sizes {
        const HOLDS_RECORDS: bool = true;

        fn stage(self, _: &ComponentConfig, _: Signal) -> Result<Stage, Invalid> {
            let settings = crate::batcher::BatchSettings {
                send_batch_size: self.size,
                ..Default::default()
            };
            Ok(Stage::Batch(crate::batcher::Batcher::new(settings)))
        }
    }

    #[test]
    fn typed_factory_names_checks_and_builds_from_its_config_type() {
        let config = load_str(
            "typed.yaml",
            "receivers:\n  r:\nprocessors:\n  sizes/ok: { size: 3 }\n  sizes/zero:\n    size: 0\n  sizes/typo: { sise: 3 }\nexporters:\n  e:\nservice:\n  pipelines:\n    logs: { receivers: [r], processors: [sizes/ok, sizes/zero, sizes/typo], exporters: [e] }\n",
        )
        .unwrap();
        let factory = Typed::<Sizes>::new();
        let list: &[&dyn ProcessorFactory] = &[&factory];
        let cfg = |id: &str| &config.processors[&id.parse().unwrap()];
        assert_eq!(lookup(list, cfg("sizes/ok")).unwrap().type_name(), "sizes");
        assert!(factory.holds_records());
        assert!(factory.validate(cfg("sizes/ok")).is_ok());
        assert!(matches!(
            factory.build(cfg("sizes/ok"), Signal::Logs),
            Ok(Stage::Batch(_))
        ));
        let zero = "typed.yaml:6: processors.sizes/zero.size: must be at least 1";
        assert_eq!(
            factory.validate(cfg("sizes/zero")).unwrap_err().to_string(),
            zero
        );
        // build checks again: a config that skipped validate is still refused.
        let built = factory.build(cfg("sizes/zero"), Signal::Logs);
        assert_eq!(built.err().unwrap().to_string(), zero);
        let typo = factory.validate(cfg("sizes/typo")).unwrap_err().to_string();
        assert!(typo.contains("sise"), "{typo}");
    }

    #[test]
    fn lookup_finds_by_type_and_lists_known_types() {
        let config = load_str(
            "lookup.yaml",
            "receivers:\n  r:\nexporters:\n  b/x: {}\n  c: {}\nservice:\n  pipelines:\n    logs: { receivers: [r], exporters: [b/x, c] }\n",
        )
        .unwrap();
        let list: &[&Named] = &[&Named("a"), &Named("b")];
        let b = &config.exporters[&"b/x".parse().unwrap()];
        assert_eq!(lookup(list, b).unwrap().type_name(), "b");
        let c = &config.exporters[&"c".parse().unwrap()];
        assert_eq!(
            lookup(list, c).err().unwrap().to_string(),
            "lookup.yaml:5: exporters.c: unknown exporter type \"c\"; known types: a, b"
        );
    }
}
