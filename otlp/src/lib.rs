//! The OTLP data model and its codecs: the batch of one signal that flows
//! through ccpipe, the protobuf wire scan that checks a request (and its
//! attribute limits) without decoding it, encoding, and OTLP/JSON both ways.
//! Nothing here knows about pipelines, configs or components.

pub mod batch;
pub mod encode;
pub mod encoded;
pub mod limits;
pub mod otlp_json;
pub mod points;
pub mod records;
pub mod rewrite;
mod schema;
#[doc(hidden)]
pub mod testing;
pub mod wire;
pub mod write;

pub use batch::{Batch, DecodeError, Form};
pub use encoded::Encoded;
pub use records::{Records, Signal};
