//! A request body while it is read, whatever decoder reads it: each data
//! frame is counted against `service.memory_limit_mib` (so bodies in flight
//! cannot grow the process past it: the read fails and the client is told
//! to retry later), and a body that does not arrive within its deadline
//! fails instead of holding its buffer forever.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use ccpipe_pipeline::channel::MemoryLimit;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("ccpipe holds as much as service.memory_limit_mib allows; retry later")]
    OverMemory,
    #[error("the body was not received in time")]
    Timeout,
    #[error("{0}")]
    Read(Box<dyn std::error::Error + Send + Sync>),
}

/// The bytes of one body counted so far; they stay counted until every
/// clone (the body's and the reader's) is dropped, i.e. until the request
/// is decoded and handed over (the queues count it from there).
#[derive(Clone)]
pub struct Held(Arc<HeldBytes>);

struct HeldBytes {
    limit: MemoryLimit,
    bytes: AtomicUsize,
}

impl Held {
    fn hold(&self, n: usize) -> bool {
        if !self.0.limit.try_hold(n) {
            return false;
        }
        self.0.bytes.fetch_add(n, Ordering::Relaxed);
        true
    }
}

impl Drop for HeldBytes {
    fn drop(&mut self) {
        self.limit.release(*self.bytes.get_mut());
    }
}

/// `inner`, counted against `limit` (when set) and failing after `within`
/// (when set).
pub struct Metered<B> {
    inner: B,
    held: Option<Held>,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> Metered<B> {
    pub fn new(inner: B, limit: Option<&MemoryLimit>, within: Option<Duration>) -> Metered<B> {
        Metered {
            inner,
            held: limit.map(|limit| {
                Held(Arc::new(HeldBytes {
                    limit: limit.clone(),
                    bytes: AtomicUsize::new(0),
                }))
            }),
            deadline: within.map(|d| Box::pin(tokio::time::sleep(d))),
        }
    }

    /// What this body holds, to keep counted after the body is consumed.
    pub fn held(&self) -> Option<Held> {
        self.held.clone()
    }
}

impl<B> Body for Metered<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if let Some(deadline) = &mut this.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(BodyError::Timeout)));
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, Bytes::len);
                match &this.held {
                    Some(held) if !held.hold(len) => Poll::Ready(Some(Err(BodyError::OverMemory))),
                    _ => Poll::Ready(Some(Ok(frame))),
                }
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(BodyError::Read(e.into())))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    #[tokio::test]
    async fn bodies_count_until_released_and_fail_over_the_limit() {
        let limit = MemoryLimit::new(1000);
        let first = Metered::new(Full::new(Bytes::from(vec![0u8; 600])), Some(&limit), None);
        let held = first.held();
        let bytes = first.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 600);
        assert_eq!(limit.used(), 600, "counted while the reader holds it");
        let second = Metered::new(Full::new(Bytes::from(vec![0u8; 600])), Some(&limit), None);
        let err = second.collect().await.unwrap_err();
        assert!(matches!(err, BodyError::OverMemory), "{err}");
        assert_eq!(limit.used(), 600, "a refused body holds nothing");
        drop(held);
        assert_eq!(limit.used(), 0, "released with the last holder");
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
        tx.send(Ok(Frame::data(Bytes::from_static(b"part"))))
            .await
            .unwrap();
        let stream = tokio_stream_from(rx);
        let body = Metered::new(
            StreamBody::new(stream),
            None,
            Some(Duration::from_millis(50)),
        );
        let err = body.collect().await.unwrap_err();
        assert!(matches!(err, BodyError::Timeout), "{err}");
        drop(tx);
    }

    fn tokio_stream_from<T>(
        rx: tokio::sync::mpsc::Receiver<T>,
    ) -> tonic::codegen::tokio_stream::wrappers::ReceiverStream<T> {
        tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}
