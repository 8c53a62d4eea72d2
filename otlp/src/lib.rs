//! The OTLP data model and its codecs: the batch of one signal that flows
//! through ccpipe, the protobuf wire scan that checks a request (and its
//! attribute limits) without decoding it, encoding, and OTLP/JSON both ways.
//! Nothing here knows about pipelines, configs or components.

pub mod encode;
pub mod limits;
pub mod otlp_json;
pub mod payload;
pub mod records;
#[doc(hidden)]
pub mod testing;
pub mod wire;
pub mod write;

/// What flows between stages (see [`payload::Batch`]) and its signal.
pub mod batch {
    pub use crate::payload::{Batch, Form};
    pub use crate::records::Signal;
}

pub use payload::Batch;
pub use records::{Records, Signal};
