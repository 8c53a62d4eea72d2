//! Placeholder: the OTLP/JSON helper fills this module.
