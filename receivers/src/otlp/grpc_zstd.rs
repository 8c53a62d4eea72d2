//! zstd-compressed gRPC messages, decompressed before tonic sees them.
//!
//! tonic's own zstd support cannot bound the decoder's window: a tiny
//! frame may declare a 128 MiB window, which the decoder reserves before it
//! writes a byte, once per message in flight. So a `grpc-encoding: zstd`
//! request body is rewritten here, message by message, into uncompressed
//! messages: each is decompressed by the OTLP/HTTP receiver's decoder, with
//! its window bound and its output capped at `max_recv_msg_size`, as gzip's
//! is. Errors end the call with the status tonic would give for gzip.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hyper::body::{Body as HttpBody, Frame};
use tonic::body::Body;
use tonic::Status;

use super::decode::{self, DecodeError, Encoding};

/// The gRPC message prefix: a compressed flag and a big-endian length.
const PREFIX: usize = 5;

/// Whether `headers` say the messages are zstd-compressed.
pub fn is_zstd(headers: &http::HeaderMap) -> bool {
    headers
        .get("grpc-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"zstd"))
}

/// The same request with its messages decompressed and no `grpc-encoding`.
pub fn decompressed(request: http::Request<Body>, max: usize) -> http::Request<Body> {
    let (mut parts, body) = request.into_parts();
    parts.headers.remove("grpc-encoding");
    let body = Messages {
        inner: body,
        pending: BytesMut::new(),
        ready: VecDeque::new(),
        max,
    };
    http::Request::from_parts(parts, Body::new(body))
}

struct Messages {
    inner: Body,
    /// Bytes of a message not yet complete.
    pending: BytesMut,
    /// Frames to hand on: messages rewritten, then the trailers.
    ready: VecDeque<Frame<Bytes>>,
    max: usize,
}

impl Messages {
    /// Moves every complete message from `pending` to `ready`, decompressed.
    fn take_messages(&mut self) -> Result<(), Status> {
        while self.pending.len() >= PREFIX {
            let compressed = self.pending[0] == 1;
            let len = u32::from_be_bytes(self.pending[1..PREFIX].try_into().expect("4 bytes"));
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len > self.max {
                return Err(Status::resource_exhausted(format!(
                    "Error, decoded message length too large: found {len} bytes, the limit is: {} bytes",
                    self.max
                )));
            }
            if self.pending.len() < PREFIX + len {
                return Ok(());
            }
            self.pending.advance(PREFIX);
            let message = self.pending.split_to(len).freeze();
            let plain = match compressed {
                true => decompress(message, self.max)?,
                false => message,
            };
            let mut out = BytesMut::with_capacity(PREFIX + plain.len());
            out.put_u8(0);
            out.put_u32(u32::try_from(plain.len()).expect("at most max_recv_msg_size"));
            out.put_slice(&plain);
            self.ready.push_back(Frame::data(out.freeze()));
        }
        Ok(())
    }
}

fn decompress(message: Bytes, max: usize) -> Result<Bytes, Status> {
    match decode::decompress(Encoding::Zstd, message, max) {
        Ok(plain) => Ok(Bytes::from(plain)),
        Err(DecodeError::TooLarge { limit }) => Err(Status::resource_exhausted(format!(
            "Error decompressing: size limit, of {limit} bytes, exceeded while decompressing message"
        ))),
        Err(e) => Err(Status::invalid_argument(e.to_string())),
    }
}

impl HttpBody for Messages {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) if self.pending.is_empty() => return Poll::Ready(None),
                // A message cut off by the end of the stream: tonic says so.
                Poll::Ready(None) => {
                    let rest = self.pending.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            match frame.into_data() {
                Ok(data) => {
                    self.pending.put(data);
                    if let Err(status) = self.take_messages() {
                        return Poll::Ready(Some(Err(status)));
                    }
                }
                Err(trailers) => self.ready.push_back(trailers),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::{BodyExt, StreamBody};
    use tonic::codegen::tokio_stream;

    use super::*;

    fn message(compressed: bool, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::from(compressed)];
        out.extend((bytes.len() as u32).to_be_bytes());
        out.extend(bytes);
        out
    }

    /// The body cut into `chunk`-byte DATA frames, rewritten, collected.
    async fn rewrite(body: &[u8], chunk: usize) -> Result<Vec<u8>, Status> {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = body
            .chunks(chunk)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = Body::new(StreamBody::new(tokio_stream::iter(frames)));
        let request = http::Request::builder()
            .header("grpc-encoding", "zstd")
            .body(body)
            .unwrap();
        let request = decompressed(request, 1 << 16);
        assert!(request.headers().get("grpc-encoding").is_none());
        let collected = request.into_body().collect().await?;
        Ok(collected.to_bytes().to_vec())
    }

    /// Messages, compressed or not, come out uncompressed however the body
    /// is cut, even one byte per frame; a bad message ends the body with
    /// the status tonic will answer.
    #[tokio::test]
    async fn messages_are_rewritten_across_any_frame_boundaries() {
        let first = b"first message".repeat(50);
        let second = b"second".to_vec();
        let mut body = message(true, &zstd::encode_all(&first[..], 3).unwrap());
        body.extend(message(false, &second));
        let mut want = message(false, &first);
        want.extend(message(false, &second));
        for chunk in [1, 2, 5, 7, 64, body.len()] {
            assert_eq!(rewrite(&body, chunk).await.unwrap(), want, "chunk {chunk}");
        }

        let broken = message(true, b"not zstd at all");
        let status = rewrite(&broken, 3).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        let bomb = message(true, &zstd::encode_all(&vec![0u8; 1 << 20][..], 3).unwrap());
        let status = rewrite(&bomb, 1000).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    }
}
