//! TLS for every exporter that connects out: the `tls` settings
//! (`ca_file`, `insecure_skip_verify`) and the connector under both HTTP
//! transports — plain TCP for http://, rustls (ring) for https://, with
//! Mozilla's roots, a CA file, or no verification.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use serde::Deserialize;

use crate::common::Invalid;

/// TLS for https:// endpoints. Without a CA file, Mozilla's roots are trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// PEM certificates trusted instead of the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (tests, self-signed labs).
    pub insecure_skip_verify: bool,
}

/// `tls:` as written in YAML, for exporters with one endpoint URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificates to trust instead of the built-in (Mozilla) roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (self-signed labs; never in production).
    pub insecure_skip_verify: bool,
}

impl TlsConfig {
    /// Checks the settings against the endpoint they are for; `key` is where
    /// the block is (`tls`, `agent.tls`), `ca_file_key` its `ca_file`.
    pub fn settings(
        &self,
        key: &'static str,
        ca_file_key: &'static str,
        endpoint: &str,
    ) -> Result<Tls, Invalid> {
        if self
            .ca_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(Invalid::new(ca_file_key, "must not be empty"));
        }
        let set = self.ca_file.is_some() || self.insecure_skip_verify;
        if set && !endpoint.starts_with("https://") {
            return Err(Invalid::new(
                key,
                format!("applies to https:// endpoints only; the endpoint is {endpoint:?}"),
            ));
        }
        Ok(Tls {
            ca_file: self.ca_file.clone(),
            insecure_skip_verify: self.insecure_skip_verify,
        })
    }
}

/// Why an exporter's TLS cannot be set up: its CA file, or rustls itself.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot set up TLS: {0}")]
    Rustls(rustls::Error),
    #[error("tls.ca_file: cannot read {}: {error}", .path.display())]
    CaUnreadable {
        path: PathBuf,
        error: rustls::pki_types::pem::Error,
    },
    #[error("tls.ca_file: {}: {error}", .path.display())]
    CaNotPem {
        path: PathBuf,
        error: rustls::pki_types::pem::Error,
    },
    #[error("tls.ca_file: {}: {error}", .path.display())]
    CaRejected { path: PathBuf, error: rustls::Error },
    #[error("tls.ca_file: no PEM certificate in {}", .path.display())]
    CaEmpty { path: PathBuf },
}

/// A TLS config of our own when the settings need one (a CA file, or no
/// verification); `None` means Mozilla's roots. Reads the CA file.
pub fn client_config(tls: &Tls) -> Result<Option<rustls::ClientConfig>, TlsSetupError> {
    if tls.ca_file.is_none() && !tls.insecure_skip_verify {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Rustls)?;
    if tls.insecure_skip_verify {
        return Ok(Some(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth(),
        ));
    }
    let path = tls.ca_file.as_ref().expect("checked above");
    let mut roots = RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(path).map_err(|error| TlsSetupError::CaUnreadable {
            path: path.clone(),
            error,
        })?;
    for cert in certs {
        let cert = cert.map_err(|error| TlsSetupError::CaNotPem {
            path: path.clone(),
            error,
        })?;
        roots.add(cert).map_err(|error| TlsSetupError::CaRejected {
            path: path.clone(),
            error,
        })?;
    }
    if roots.is_empty() {
        return Err(TlsSetupError::CaEmpty { path: path.clone() });
    }
    Ok(Some(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// `h2`: offer HTTP/2 only (gRPC); else HTTP/1.1.
pub fn connector(
    config: Option<Arc<rustls::ClientConfig>>,
    h2: bool,
    timeout: Duration,
) -> Result<HttpsConnector<HttpConnector>, TlsSetupError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    http.set_nodelay(true);
    let builder = match config {
        Some(c) => HttpsConnectorBuilder::new().with_tls_config((*c).clone()),
        None => HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(TlsSetupError::Rustls)?,
    }
    .https_or_http();
    Ok(if h2 {
        builder.enable_http2().wrap_connector(http)
    } else {
        builder.enable_http1().wrap_connector(http)
    })
}

/// `insecure_skip_verify`: any certificate is accepted.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ca(path: &std::path::Path) -> Result<Option<rustls::ClientConfig>, TlsSetupError> {
        client_config(&Tls {
            ca_file: Some(path.to_owned()),
            insecure_skip_verify: false,
        })
    }

    #[test]
    fn an_unusable_ca_file_is_an_error_naming_the_key_and_file() {
        let dir = std::env::temp_dir().join(format!("ccpipe-tls-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let err = with_ca(&missing).unwrap_err();
        assert!(matches!(err, TlsSetupError::CaUnreadable { .. }), "{err:?}");
        let prefix = format!("tls.ca_file: cannot read {}: ", missing.display());
        assert!(err.to_string().starts_with(&prefix), "{err}");

        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let err = with_ca(&empty).unwrap_err();
        let expected = format!("tls.ca_file: no PEM certificate in {}", empty.display());
        assert_eq!(err.to_string(), expected);

        // Mozilla's roots need no file and no config of our own.
        assert!(client_config(&Tls::default()).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
