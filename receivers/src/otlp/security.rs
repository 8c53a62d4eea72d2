//! Who may send: an optional bearer token (HTTP `Authorization: Bearer …`,
//! gRPC `authorization` metadata), compared in constant time, and the TLS
//! server settings (certificate, key, and for mTLS the client CA) read from
//! PEM files when the receiver is built.
//!
//! The token is never printed: its `Debug` shows `[REDACTED]`, and no error
//! message quotes what a client sent.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::HeaderValue;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use subtle::ConstantTimeEq;

/// The token clients must present.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(Arc<[u8]>);

impl BearerToken {
    pub fn new(token: &str) -> BearerToken {
        BearerToken(Arc::from(token.as_bytes()))
    }

    /// True when `authorization` is `Bearer <this token>` (the scheme in any
    /// case). The comparison of the token takes the same time wherever the
    /// first difference is.
    pub fn admits(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let value = value.as_bytes();
        let Some((scheme, token)) = value.split_at_checked(7) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(b"bearer ") {
            return false;
        }
        let token = token.trim_ascii();
        bool::from(token.ct_eq(&self.0))
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([REDACTED])")
    }
}

/// `tls`: where the server's certificate and key are, and the CA that
/// client certificates must chain to (mTLS) when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
}

impl TlsFiles {
    /// Reads the PEM files into a rustls server config (ring provider) that
    /// offers `alpn` protocols. Errors name the key and file.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
        let certs = read_certs("tls.cert_file", &self.cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&self.key_file)
            .map_err(|e| TlsError::pem("tls.key_file", &self.key_file, e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Protocols)?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs("tls.client_ca_file", path)? {
                    roots.add(cert).map_err(|error| TlsError::UnusableCa {
                        path: path.clone(),
                        error,
                    })?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|error| TlsError::ClientVerifier {
                        path: path.clone(),
                        error,
                    })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config =
            builder
                .with_single_cert(certs, key)
                .map_err(|error| TlsError::KeyMismatch {
                    cert: self.cert_file.clone(),
                    key: self.key_file.clone(),
                    error,
                })?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// Why a receiver's TLS files cannot be used; each names the key and file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: {}: {why}", .path.display())]
    Pem {
        key: &'static str,
        path: PathBuf,
        why: PemProblem,
    },
    #[error("{key}: {}: no PEM certificate in it", .path.display())]
    NoCertificate { key: &'static str, path: PathBuf },
    #[error("tls.client_ca_file: {}: not a usable CA: {error}", .path.display())]
    UnusableCa { path: PathBuf, error: rustls::Error },
    #[error("tls.client_ca_file: {}: {error}", .path.display())]
    ClientVerifier {
        path: PathBuf,
        error: rustls::server::VerifierBuilderError,
    },
    #[error(
        "tls: the certificate in {} does not go with the key in {}: {error}",
        .cert.display(),
        .key.display()
    )]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        error: rustls::Error,
    },
    #[error("tls: {0}")]
    Protocols(rustls::Error),
}

/// What is wrong with a PEM file, in words (rustls' own `Display` of these
/// is terse, and `Debug` is all some variants have).
#[derive(Debug, thiserror::Error)]
pub enum PemProblem {
    #[error("cannot read it: {0}")]
    Unreadable(std::io::Error),
    #[error("no PEM item of the expected kind in it")]
    NothingFound,
    #[error("not valid PEM: {0}")]
    Invalid(String),
}

impl TlsError {
    fn pem(key: &'static str, path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
        use rustls::pki_types::pem::Error;
        let why = match e {
            Error::Io(e) => PemProblem::Unreadable(e),
            Error::NoItemsFound => PemProblem::NothingFound,
            other => PemProblem::Invalid(format!("{other:?}")),
        };
        TlsError::Pem {
            key,
            path: path.to_owned(),
            why,
        }
    }
}

fn read_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::pem(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::pem(key, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            key,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn only_the_exact_token_with_the_bearer_scheme_is_admitted() {
        let token = BearerToken::new("s3cr3t-t0ken");
        assert!(token.admits(Some(&header("Bearer s3cr3t-t0ken"))));
        assert!(token.admits(Some(&header("bearer s3cr3t-t0ken"))));
        assert!(token.admits(Some(&header("BEARER  s3cr3t-t0ken "))));
        for wrong in [
            "Bearer s3cr3t-t0ke",
            "Bearer s3cr3t-t0kenX",
            "Bearer S3CR3T-T0KEN",
            "Basic s3cr3t-t0ken",
            "s3cr3t-t0ken",
            "Bearer",
            "Bearer ",
            "",
        ] {
            assert!(!token.admits(Some(&header(wrong))), "{wrong:?}");
        }
        assert!(!token.admits(None));
    }

    #[test]
    fn the_token_does_not_print() {
        let token = BearerToken::new("s3cr3t-t0ken");
        assert_eq!(format!("{token:?}"), "BearerToken([REDACTED])");
    }
}
