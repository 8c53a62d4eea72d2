//! `brokers`, `client_id`, `tls` and `auth.sasl`: how a component reaches the
//! cluster, with the Collector's key names, checked without IO and turned
//! into librdkafka properties.

use ccpipe_pipeline::config::Secret;
use rdkafka::config::ClientConfig;
use serde::Deserialize;

use crate::Invalid;

/// The broker a component talks to when `brokers` is not set: this machine.
pub const DEFAULT_BROKER: &str = "127.0.0.1:9092";

/// `tls`: present = TLS to the brokers. PEM files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// CA bundle to verify the brokers with; absent = the system's.
    pub ca_file: Option<String>,
    /// Client certificate and key, for mutual TLS (both or neither).
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    /// Skip verifying the brokers' certificates (tests only).
    pub insecure_skip_verify: bool,
}

/// `auth`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub sasl: Option<SaslConfig>,
}

/// `auth.sasl`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Secret,
}

/// The SASL mechanisms librdkafka runs without extra libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// Checked connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub brokers: Vec<String>,
    pub client_id: String,
    pub tls: Option<TlsConfig>,
    pub sasl: Option<SaslConfig>,
}

impl Connection {
    /// Checks the settings as written (`brokers` empty = [`DEFAULT_BROKER`]).
    pub fn new(
        brokers: &[String],
        client_id: &str,
        tls: Option<&TlsConfig>,
        auth: &AuthConfig,
    ) -> Result<Connection, Invalid> {
        // An entry may hold several, comma-separated (one environment
        // variable for the whole list).
        let mut brokers: Vec<String> = brokers
            .iter()
            .flat_map(|b| b.split(','))
            .map(|b| b.trim().to_owned())
            .collect();
        if brokers.is_empty() {
            brokers.push(DEFAULT_BROKER.to_owned());
        }
        for b in &brokers {
            check_broker(b)?;
        }
        if client_id.trim().is_empty() {
            return Err(Invalid::new("client_id", "must not be empty"));
        }
        if let Some(tls) = tls {
            check_tls(tls)?;
        }
        if let Some(sasl) = &auth.sasl {
            if sasl.username.is_empty() {
                return Err(Invalid::new("auth.sasl.username", "must not be empty"));
            }
            if sasl.password.expose().is_empty() {
                return Err(Invalid::new(
                    "auth.sasl.password",
                    "must not be empty (use ${env:VAR} to keep it out of the file)",
                ));
            }
        }
        Ok(Connection {
            brokers,
            client_id: client_id.trim().to_owned(),
            tls: tls.cloned(),
            sasl: auth.sasl.clone(),
        })
    }

    /// librdkafka's `security.protocol` for these settings.
    pub fn security_protocol(&self) -> &'static str {
        match (&self.tls, &self.sasl) {
            (None, None) => "plaintext",
            (Some(_), None) => "ssl",
            (None, Some(_)) => "sasl_plaintext",
            (Some(_), Some(_)) => "sasl_ssl",
        }
    }

    /// The librdkafka properties of these settings, for a producer or a consumer.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.brokers.join(","))
            .set("client.id", &self.client_id)
            .set("security.protocol", self.security_protocol());
        if let Some(tls) = &self.tls {
            // `probe`: the usual system bundle paths (also the container
            // image's /etc/ssl/certs/ca-certificates.crt).
            c.set("ssl.ca.location", tls.ca_file.as_deref().unwrap_or("probe"));
            if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                c.set("ssl.certificate.location", cert)
                    .set("ssl.key.location", key);
            }
            if tls.insecure_skip_verify {
                c.set("enable.ssl.certificate.verification", "false");
            }
        }
        if let Some(sasl) = &self.sasl {
            c.set("sasl.mechanisms", sasl.mechanism.as_str())
                .set("sasl.username", &sasl.username)
                .set("sasl.password", sasl.password.expose());
        }
        c
    }
}

/// `host:port`, as Kafka's `bootstrap.servers` takes it.
fn check_broker(b: &str) -> Result<(), Invalid> {
    let bad = |why: &str| {
        Invalid::new(
            "brokers",
            format!("{b:?}: {why}; expected host:port, e.g. 127.0.0.1:9092"),
        )
    };
    if b.contains("://") {
        return Err(bad("no scheme is needed (tls turns on TLS)"));
    }
    let (host, port) = b.rsplit_once(':').ok_or_else(|| bad("missing port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return Err(bad("bad host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(bad("bad port")),
    }
}

fn check_tls(tls: &TlsConfig) -> Result<(), Invalid> {
    for (key, file) in [
        ("tls.ca_file", &tls.ca_file),
        ("tls.cert_file", &tls.cert_file),
        ("tls.key_file", &tls.key_file),
    ] {
        if file.as_deref().is_some_and(|f| f.trim().is_empty()) {
            return Err(Invalid::new(
                key,
                "must be a file path; leave it out instead",
            ));
        }
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(_), None) => Err(Invalid::new(
            "tls.key_file",
            "required with tls.cert_file (mutual TLS needs both)",
        )),
        (None, Some(_)) => Err(Invalid::new(
            "tls.cert_file",
            "required with tls.key_file (mutual TLS needs both)",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(
        brokers: &[&str],
        tls: Option<TlsConfig>,
        sasl: Option<SaslConfig>,
    ) -> Result<Connection, Invalid> {
        let brokers: Vec<String> = brokers.iter().map(|s| s.to_string()).collect();
        Connection::new(&brokers, "ccpipe", tls.as_ref(), &AuthConfig { sasl })
    }

    #[test]
    fn brokers_default_to_this_machine_and_are_checked() {
        assert_eq!(conn(&[], None, None).unwrap().brokers, [DEFAULT_BROKER]);
        let cases = [
            ("kafka://b:9092", "no scheme is needed"),
            ("b", "missing port"),
            ("b:0", "bad port"),
            ("b:x", "bad port"),
            (":9092", "bad host"),
        ];
        for (b, want) in cases {
            let e = conn(&[b], None, None).unwrap_err();
            assert_eq!(e.key, "brokers");
            assert!(e.message.contains(want), "{b}: {e}");
        }
        assert!(conn(&["[::1]:9092", "kafka-0.kafka:9093"], None, None).is_ok());
        let listed = conn(&["k0:9092, k1:9092"], None, None).unwrap();
        assert_eq!(
            listed.brokers,
            ["k0:9092", "k1:9092"],
            "one variable, several brokers"
        );
        assert_eq!(conn(&["k0:9092,"], None, None).unwrap_err().key, "brokers");
    }

    #[test]
    fn security_protocol_follows_tls_and_sasl() {
        let sasl = SaslConfig {
            mechanism: SaslMechanism::ScramSha512,
            username: "u".into(),
            password: Secret::new("p"),
        };
        let tls = TlsConfig::default();
        assert_eq!(
            conn(&[], None, None).unwrap().security_protocol(),
            "plaintext"
        );
        assert_eq!(
            conn(&[], Some(tls.clone()), None)
                .unwrap()
                .security_protocol(),
            "ssl"
        );
        assert_eq!(
            conn(&[], None, Some(sasl.clone()))
                .unwrap()
                .security_protocol(),
            "sasl_plaintext"
        );
        let both = conn(&[], Some(tls), Some(sasl)).unwrap();
        assert_eq!(both.security_protocol(), "sasl_ssl");
        let c = both.client_config();
        assert_eq!(c.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("ssl.ca.location"), Some("probe"));
        assert!(
            !format!("{both:?}").contains("\"p\""),
            "the password never shows"
        );
    }

    #[test]
    fn half_a_client_certificate_is_refused() {
        let tls = TlsConfig {
            cert_file: Some("c.pem".into()),
            ..Default::default()
        };
        assert_eq!(conn(&[], Some(tls), None).unwrap_err().key, "tls.key_file");
        let empty = SaslConfig {
            mechanism: SaslMechanism::Plain,
            username: "u".into(),
            password: Secret::new(""),
        };
        assert_eq!(
            conn(&[], None, Some(empty)).unwrap_err().key,
            "auth.sasl.password"
        );
    }
}
