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

/// A TLS config of our own when the settings need one (a CA file, or no
/// verification); `None` means Mozilla's roots. Reads the CA file.
pub fn client_config(tls: &Tls) -> Result<Option<rustls::ClientConfig>, String> {
    if tls.ca_file.is_none() && !tls.insecure_skip_verify {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    if tls.insecure_skip_verify {
        return Ok(Some(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth(),
        ));
    }
    let path = tls.ca_file.as_ref().expect("checked above");
    let shown = path.display();
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("tls.ca_file: cannot read {shown}: {e}"))?
    {
        let cert = cert.map_err(|e| format!("tls.ca_file: {shown}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("tls.ca_file: {shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("tls.ca_file: no PEM certificate in {shown}"));
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
) -> Result<HttpsConnector<HttpConnector>, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    http.set_nodelay(true);
    let builder = match config {
        Some(c) => HttpsConnectorBuilder::new().with_tls_config((*c).clone()),
        None => HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("cannot set up TLS: {e}"))?,
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
