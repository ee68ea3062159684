//! How the device trusts the server's certificate, configured by the app (like Android's
//! network security config): the public CAs by default, plus any CA or self-signed
//! certificate it is given ([`TlsOptions::trust_pem`]), and optionally a pin of the server's
//! public key ([`SpkiPin`], `sha256/<base64>`, the form HPKP and OkHttp's CertificatePinner use).
//!
//! With a pin, the pin is what identifies the server: the connection is accepted only when
//! the end-entity certificate's SubjectPublicKeyInfo hashes to the pin and the handshake's
//! signature verifies with that key. Name, chain and dates are not checked then (unless a
//! CA is given as well, in which case the chain must also lead to it or a public CA), so a
//! self-signed branch certificate works without a CA, and a phone whose clock is a year off
//! still connects. A mismatch is a [`PinMismatch`], which the engine reports as
//! `tls_pin_mismatch` and does not retry.
//!
//! Crypto is rustls with `ring`, named explicitly, as on the server.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// The one pin algorithm: SHA-256 of the DER SubjectPublicKeyInfo.
const PIN_PREFIX: &str = "sha256/";

/// Why TLS options cannot be used; each names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsSetupError {
    /// The pin is not `sha256/` followed by the base64 of 32 bytes.
    #[error(
        "malformed server pin {pin:?}: {reason}; expected sha256/ and the base64 of the SHA-256 of the certificate's public key (44 characters), as `sidak tls-cert` prints it"
    )]
    BadPin {
        /// The pin as given.
        pin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No PEM certificate in what was given as a CA.
    #[error("no certificate found (expected PEM starting with -----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    /// The PEM does not decode.
    #[error("not a PEM certificate: {0}")]
    BadPem(String),
    /// The certificate is not X.509 that rustls reads.
    #[error("not a usable X.509 certificate: {0}")]
    BadCertificate(String),
    /// The HTTP client could not be built with these options.
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// A pin of a server's public key: SHA-256 of its certificate's SubjectPublicKeyInfo (DER).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpkiPin([u8; 32]);

impl SpkiPin {
    /// The pin of an X.509 certificate in DER.
    pub fn of_certificate(der: &[u8]) -> Result<SpkiPin, TlsSetupError> {
        let der = CertificateDer::from(der);
        let cert = webpki::EndEntityCert::try_from(&der)
            .map_err(|e| TlsSetupError::BadCertificate(format!("{e:?}")))?;
        let spki = cert.subject_public_key_info();
        let mut pin = [0u8; 32];
        pin.copy_from_slice(&Sha256::digest(spki.as_ref()));
        Ok(SpkiPin(pin))
    }

    /// The pin of the first certificate in PEM text (the server's, in a chain file).
    pub fn of_pem_certificate(pem: &[u8]) -> Result<SpkiPin, TlsSetupError> {
        let first = CertificateDer::pem_slice_iter(pem)
            .next()
            .ok_or(TlsSetupError::NoCertificate)?
            .map_err(|e| TlsSetupError::BadPem(e.to_string()))?;
        Self::of_certificate(&first)
    }
}

impl FromStr for SpkiPin {
    type Err = TlsSetupError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| TlsSetupError::BadPin {
            pin: s.to_owned(),
            reason,
        };
        let b64 = s
            .trim()
            .strip_prefix(PIN_PREFIX)
            .ok_or_else(|| bad("it does not start with sha256/ (only SHA-256 pins are used)"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| bad("what follows sha256/ is not standard base64"))?;
        let hash: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("it does not decode to 32 bytes"))?;
        Ok(SpkiPin(hash))
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PIN_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

impl fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpkiPin({self})")
    }
}

/// The server presented a certificate whose key is not the pinned one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server's certificate does not match the pinned key {expected}; the server presented {presented}"
)]
pub struct PinMismatch {
    /// The pin the device carries.
    pub expected: SpkiPin,
    /// The pin of the certificate the server presented.
    pub presented: SpkiPin,
}

/// Which certificates the device accepts from the server (module docs).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    roots: Vec<CertificateDer<'static>>,
    pin: Option<SpkiPin>,
}

impl TlsOptions {
    /// The defaults: the public CAs, no pin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also trusts the certificates in `pem`: a private CA, or the server's self-signed certificate.
    pub fn trust_pem(mut self, pem: &[u8]) -> Result<Self, TlsSetupError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsSetupError::BadPem(e.to_string()))?;
        if certs.is_empty() {
            return Err(TlsSetupError::NoCertificate);
        }
        for cert in &certs {
            // Refused here rather than at the first connection.
            webpki::anchor_from_trusted_cert(cert)
                .map_err(|e| TlsSetupError::BadCertificate(format!("{e:?}")))?;
        }
        self.roots.extend(certs);
        Ok(self)
    }

    /// Accepts only a server whose certificate's key has this pin.
    pub fn pin(mut self, pin: SpkiPin) -> Self {
        self.pin = Some(pin);
        self
    }

    /// The pin, if any.
    pub fn pinned(&self) -> Option<SpkiPin> {
        self.pin
    }

    /// Sets up `builder` (reqwest with rustls) to trust as these options say.
    pub fn configure(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, TlsSetupError> {
        let Some(pin) = self.pin else {
            // No pin: reqwest's own rustls set-up, with the extra roots beside the public ones.
            return self.roots.iter().try_fold(builder, |b, der| {
                reqwest::Certificate::from_der(der)
                    .map(|c| b.add_root_certificate(c))
                    .map_err(|e| TlsSetupError::BadCertificate(e.to_string()))
            });
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = if self.roots.is_empty() {
            None
        } else {
            let mut roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            for der in &self.roots {
                roots
                    .add(der.clone())
                    .map_err(|e| TlsSetupError::BadCertificate(e.to_string()))?;
            }
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| TlsSetupError::Setup(e.to_string()))?,
            )
        };
        let verifier = PinVerifier {
            pin,
            chain,
            provider: provider.clone(),
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Setup(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(builder.use_preconfigured_tls(config))
    }
}

/// Accepts the server's certificate when its key has the pin (and, with roots, when its
/// chain verifies too); checks handshake signatures as rustls always does.
#[derive(Debug)]
struct PinVerifier {
    pin: SpkiPin,
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = SpkiPin::of_certificate(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        // The pin first, so a wrong key is reported as such even if its chain is bad too.
        if presented != self.pin {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch {
                    expected: self.pin,
                    presented,
                })),
            )));
        }
        if let Some(chain) = &self.chain {
            chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The pin mismatch behind a failed request, wherever reqwest, hyper, `io::Error` and
/// rustls wrapped it.
pub(crate) fn pin_mismatch(e: &(dyn std::error::Error + 'static)) -> Option<PinMismatch> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(m) = err.downcast_ref::<PinMismatch>() {
            return Some(m.clone());
        }
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) =
            err.downcast_ref::<rustls::Error>()
            && let Some(m) = other.0.downcast_ref::<PinMismatch>()
        {
            return Some(m.clone());
        }
        // `io::Error::source` skips the error it wraps: look inside it.
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(m) = pin_mismatch(inner)
        {
            return Some(m);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_print_and_refuse_what_is_malformed() {
        let text = "sha256/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let pin: SpkiPin = text.parse().expect("pin");
        assert_eq!(pin.to_string(), text);
        for bad in [
            "",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "sha1/AAECAwQFBgcICQoLDA0ODxAREhM=",
            "sha256/not base64!",
            "sha256/AAECAw==",
        ] {
            let e = bad.parse::<SpkiPin>().expect_err(bad);
            assert!(matches!(e, TlsSetupError::BadPin { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("sha256/"), "{e}");
        }
    }

    #[test]
    fn the_pin_is_the_hash_of_the_public_key_not_of_the_certificate() {
        let key = rcgen::KeyPair::generate().expect("key");
        let a = rcgen::CertificateParams::new(vec!["a.example".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert a");
        let b = rcgen::CertificateParams::new(vec!["b.example".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert b");
        let pa = SpkiPin::of_certificate(a.der()).expect("pin a");
        assert_eq!(pa, SpkiPin::of_certificate(b.der()).expect("pin b"));
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let mut want = [0u8; 32];
        want.copy_from_slice(&Sha256::digest(&spki));
        assert_eq!(pa, SpkiPin(want));
        assert_eq!(
            SpkiPin::of_pem_certificate(a.pem().as_bytes()).expect("pem"),
            pa
        );
        let other = rcgen::generate_simple_self_signed(vec!["a.example".to_owned()]).expect("c");
        assert_ne!(SpkiPin::of_certificate(other.cert.der()).expect("pin"), pa);
        assert!(SpkiPin::of_pem_certificate(b"nothing").is_err());
        assert!(TlsOptions::new().trust_pem(b"nothing").is_err());
    }
}
