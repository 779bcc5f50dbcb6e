//! TLS for the listener (openssl): the certificate pair from `gateway.tls` or generated into
//! `<state>/certs/`, its SHA-256 fingerprint, and hot reload: every new handshake picks the
//! current context in the ClientHello callback, so a renewed certificate applies to new
//! connections while open ones keep theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::ssl::{
    ClientHelloResponse, SslAcceptor, SslAcceptorBuilder, SslContext, SslContextBuilder, SslFiletype, SslMethod,
    SslVersion,
};
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};
use parking_lot::RwLock;

use crate::config::Paths;
use crate::config::model::{Tls, TlsVersion};
use crate::state::{self, FILE_MODE, StateError};

pub const CERT_FILE: &str = "gateway.crt";
pub const KEY_FILE: &str = "gateway.key";
/// Validity of a generated certificate (the most clients accept for a leaf).
const GENERATED_DAYS: u32 = 825;

/// Why TLS cannot be set up: the config names no usable pair, a file is missing or bad, or
/// generating or installing the pair failed. Every message names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("gateway.tls needs both cert and key (or neither, with autoGenerate)")]
    HalfPair,
    #[error(
        "gateway.tls.enabled is true but no certificate is set: set gateway.tls.cert and gateway.tls.key, or gateway.tls.autoGenerate: true"
    )]
    NoPair,
    #[error("cannot read TLS certificate {}: {source}", path.display())]
    ReadCert { path: PathBuf, source: std::io::Error },
    #[error("TLS certificate {} is not a PEM certificate: {source}", path.display())]
    CertNotPem { path: PathBuf, source: ErrorStack },
    #[error("cannot read TLS key {}: {source}", path.display())]
    ReadKey { path: PathBuf, source: std::io::Error },
    #[error("TLS key {} is not a PEM private key: {source}", path.display())]
    KeyNotPem { path: PathBuf, source: ErrorStack },
    /// openssl could not make a server context at all.
    #[error("{0}")]
    Context(ErrorStack),
    #[error("TLS certificate {}: {source}", path.display())]
    Cert { path: PathBuf, source: ErrorStack },
    #[error("TLS key {}: {source}", path.display())]
    Key { path: PathBuf, source: ErrorStack },
    #[error("TLS key {} does not belong to the certificate {}", key.display(), cert.display())]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("certificate generation failed: {0}")]
    Generate(ErrorStack),
    #[error("cannot create {0}")]
    CreateDir(StateError),
    #[error("cannot write the TLS key {0}")]
    WriteKey(StateError),
    #[error("cannot write the TLS certificate {0}")]
    WriteCert(StateError),
    #[error("TLS acceptor: {0}")]
    Acceptor(ErrorStack),
}

/// Where the pair is, and whether the gateway generates it.
pub fn pair_paths(cfg: &Tls, paths: &Paths) -> Result<(PathBuf, PathBuf, bool), TlsError> {
    match (&cfg.cert, &cfg.key) {
        (Some(c), Some(k)) => Ok((paths.state_dir.join(c), paths.state_dir.join(k), false)),
        (Some(_), None) | (None, Some(_)) => Err(TlsError::HalfPair),
        (None, None) if cfg.auto_generate => {
            let dir = paths.state_dir.join("certs");
            Ok((dir.join(CERT_FILE), dir.join(KEY_FILE), true))
        }
        (None, None) => Err(TlsError::NoPair),
    }
}

/// Lowercase hex SHA-256 of the certificate's DER form.
pub fn fingerprint(cert: &X509) -> String {
    cert.digest(MessageDigest::sha256()).map(|d| crate::sys::hex(&d)).unwrap_or_default()
}

/// A loaded, usable pair.
pub struct Pair {
    pub context: SslContext,
    pub fingerprint: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    stamp: Option<(SystemTime, SystemTime)>,
}

fn stamp(cert: &Path, key: &Path) -> Option<(SystemTime, SystemTime)> {
    Some((std::fs::metadata(cert).ok()?.modified().ok()?, std::fs::metadata(key).ok()?.modified().ok()?))
}

/// Builds a server context from the files; every error names the file at fault.
pub fn load_pair(cert_path: &Path, key_path: &Path, min: TlsVersion) -> Result<Pair, TlsError> {
    let cert_at = || cert_path.to_path_buf();
    let key_at = || key_path.to_path_buf();
    let pem = std::fs::read(cert_path).map_err(|source| TlsError::ReadCert { path: cert_at(), source })?;
    let cert = X509::from_pem(&pem).map_err(|source| TlsError::CertNotPem { path: cert_at(), source })?;
    let key_pem = std::fs::read(key_path).map_err(|source| TlsError::ReadKey { path: key_at(), source })?;
    let key = PKey::private_key_from_pem(&key_pem).map_err(|source| TlsError::KeyNotPem { path: key_at(), source })?;
    let mut b = SslContextBuilder::new(SslMethod::tls_server()).map_err(TlsError::Context)?;
    b.set_min_proto_version(Some(version(min))).map_err(TlsError::Context)?;
    b.set_certificate_chain_file(cert_path).map_err(|source| TlsError::Cert { path: cert_at(), source })?;
    b.set_private_key(&key).map_err(|source| TlsError::Key { path: key_at(), source })?;
    b.check_private_key().map_err(|_| TlsError::KeyMismatch { key: key_at(), cert: cert_at() })?;
    Ok(Pair {
        context: b.build(),
        fingerprint: fingerprint(&cert),
        cert_path: cert_path.to_path_buf(),
        key_path: key_path.to_path_buf(),
        stamp: stamp(cert_path, key_path),
    })
}

fn version(v: TlsVersion) -> SslVersion {
    match v {
        TlsVersion::V1_2 => SslVersion::TLS1_2,
        TlsVersion::V1_3 => SslVersion::TLS1_3,
    }
}

/// Generates a self-signed EC P-256 certificate for this host (SANs: hostname,
/// hostname.local, localhost, 127.0.0.1, ::1 and the LAN addresses). Returns the fingerprint.
pub fn generate(cert_path: &Path, key_path: &Path) -> Result<String, TlsError> {
    let host = crate::sys::hostname();
    let err = TlsError::Generate;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(err)?;
    let key = PKey::from_ec_key(EcKey::generate(&group).map_err(err)?).map_err(err)?;
    let mut name = X509NameBuilder::new().map_err(err)?;
    name.append_entry_by_text("CN", &host).map_err(err)?;
    name.append_entry_by_text("O", "OpenClaw gateway").map_err(err)?;
    let name = name.build();
    let mut b = X509::builder().map_err(err)?;
    b.set_version(2).map_err(err)?;
    let mut serial = BigNum::new().map_err(err)?;
    serial.rand(128, MsbOption::MAYBE_ZERO, false).map_err(err)?;
    let serial = serial.to_asn1_integer().map_err(err)?;
    b.set_serial_number(&serial).map_err(err)?;
    b.set_subject_name(&name).map_err(err)?;
    b.set_issuer_name(&name).map_err(err)?;
    b.set_pubkey(&key).map_err(err)?;
    let (from, until) =
        (Asn1Time::days_from_now(0).map_err(err)?, Asn1Time::days_from_now(GENERATED_DAYS).map_err(err)?);
    b.set_not_before(&from).map_err(err)?;
    b.set_not_after(&until).map_err(err)?;
    let mut san = SubjectAlternativeName::new();
    san.dns(&host).dns(&format!("{host}.local")).dns("localhost").ip("127.0.0.1").ip("::1");
    for ip in super::local_addrs() {
        san.ip(&ip.to_string());
    }
    let san = san.build(&b.x509v3_context(None, None)).map_err(err)?;
    b.append_extension(san).map_err(err)?;
    b.append_extension(BasicConstraints::new().build().map_err(err)?).map_err(err)?;
    b.append_extension(KeyUsage::new().digital_signature().key_agreement().build().map_err(err)?).map_err(err)?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build().map_err(err)?).map_err(err)?;
    b.sign(&key, MessageDigest::sha256()).map_err(err)?;
    let cert = b.build();
    if let Some(dir) = cert_path.parent() {
        state::ensure_dir(dir).map_err(TlsError::CreateDir)?;
    }
    let key_pem = key.private_key_to_pem_pkcs8().map_err(err)?;
    state::atomic_write(key_path, &key_pem, FILE_MODE).map_err(TlsError::WriteKey)?;
    state::atomic_write(cert_path, &cert.to_pem().map_err(err)?, 0o644).map_err(TlsError::WriteCert)?;
    Ok(fingerprint(&cert))
}

/// The live certificate, swapped on renewal.
pub struct TlsStore {
    current: RwLock<Pair>,
    min: TlsVersion,
}

impl TlsStore {
    /// Loads (generating first when configured so and missing) the pair for `cfg`.
    pub fn open(cfg: &Tls, paths: &Paths) -> Result<Arc<Self>, TlsError> {
        let (cert, key, generated) = pair_paths(cfg, paths)?;
        if generated && !(cert.exists() && key.exists()) {
            let fp = generate(&cert, &key)?;
            tracing::info!(cert = %cert.display(), fingerprint = %fp, "generated a self-signed TLS certificate");
        }
        let pair = load_pair(&cert, &key, cfg.min_version)?;
        tracing::info!(cert = %cert.display(), fingerprint = %pair.fingerprint, "TLS certificate loaded");
        Ok(Arc::new(Self { current: RwLock::new(pair), min: cfg.min_version }))
    }

    pub fn fingerprint(&self) -> String {
        self.current.read().fingerprint.clone()
    }

    /// The lowest TLS version its acceptors and contexts accept.
    pub fn min_version(&self) -> TlsVersion {
        self.min
    }

    pub fn files(&self) -> (PathBuf, PathBuf) {
        let p = self.current.read();
        (p.cert_path.clone(), p.key_path.clone())
    }

    /// Re-reads the files when they changed. `Ok(true)`: new handshakes use the new pair;
    /// `Err`: the files are bad and the previous pair stays in use.
    pub fn refresh(&self) -> Result<bool, TlsError> {
        let (cert, key, old) = {
            let p = self.current.read();
            (p.cert_path.clone(), p.key_path.clone(), p.stamp)
        };
        if stamp(&cert, &key) == old {
            return Ok(false);
        }
        let pair = load_pair(&cert, &key, self.min)?;
        let changed = pair.fingerprint != self.current.read().fingerprint;
        *self.current.write() = pair;
        Ok(changed)
    }

    /// An acceptor whose handshakes use whatever pair is current when the client says hello.
    pub fn acceptor(self: &Arc<Self>) -> Result<SslAcceptorBuilder, TlsError> {
        let err = TlsError::Acceptor;
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(err)?;
        b.set_min_proto_version(Some(version(self.min))).map_err(err)?;
        {
            let p = self.current.read();
            b.set_certificate_chain_file(&p.cert_path).map_err(err)?;
            b.set_private_key_file(&p.key_path, SslFiletype::PEM).map_err(err)?;
        }
        let store = self.clone();
        b.set_client_hello_callback(move |ssl, _alert| {
            let ctx = store.current.read().context.clone();
            ssl.set_ssl_context(&ctx)?;
            Ok(ClientHelloResponse::SUCCESS)
        });
        Ok(b)
    }
}
/// Re-reads the certificate files (a renewal): new handshakes use them; a bad pair is
/// reported and the previous one stays in use. `Some` says what happened when they changed.
pub fn refresh(store: &TlsStore) -> Option<String> {
    match store.refresh() {
        Ok(true) => {
            tracing::info!(fingerprint = %store.fingerprint(), "TLS certificate reloaded; new connections use it");
            Some(format!("reloaded ({})", store.fingerprint()))
        }
        Ok(false) => None,
        Err(e) => {
            tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays in use");
            Some(format!("not reloaded: {e}"))
        }
    }
}

/// The acceptor, offering HTTP/1.1 by ALPN (as actix-web's own server does; no HTTP/2 here).
/// OpenSSL frees a connection's record buffers (about 34 KiB) while it is idle: most
/// WebSocket connections are, most of the time.
pub fn http_acceptor(mut b: openssl::ssl::SslAcceptorBuilder) -> std::io::Result<openssl::ssl::SslAcceptor> {
    const H11: &[u8] = b"\x08http/1.1";
    b.set_mode(openssl::ssl::SslMode::RELEASE_BUFFERS);
    b.set_alpn_select_callback(|_, offered| {
        if offered.windows(H11.len()).any(|w| w == H11) { Ok(b"http/1.1") } else { Err(openssl::ssl::AlpnError::NOACK) }
    });
    b.set_alpn_protos(H11)?;
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> Paths {
        Paths { state_dir: dir.to_path_buf(), config: dir.join("openclaw.json5"), explicit: false }
    }

    #[test]
    fn errors_name_the_setting_or_file_at_fault() {
        let d = tempfile::tempdir().unwrap();
        let half = Tls { cert: Some("c.pem".into()), ..Tls::default() };
        let e = pair_paths(&half, &paths(d.path())).unwrap_err();
        assert!(matches!(e, TlsError::HalfPair));
        assert_eq!(e.to_string(), "gateway.tls needs both cert and key (or neither, with autoGenerate)");
        let none = Tls { auto_generate: false, ..Tls::default() };
        assert!(matches!(pair_paths(&none, &paths(d.path())), Err(TlsError::NoPair)));

        let (cert, key) = (d.path().join("c.pem"), d.path().join("k.pem"));
        let e = load_pair(&cert, &key, TlsVersion::V1_2).err().unwrap();
        assert!(matches!(e, TlsError::ReadCert { .. }));
        assert!(e.to_string().starts_with(&format!("cannot read TLS certificate {}: ", cert.display())), "{e}");
        generate(&cert, &key).unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let e = load_pair(&cert, &key, TlsVersion::V1_2).err().unwrap();
        assert!(e.to_string().starts_with(&format!("TLS key {} is not a PEM private key: ", key.display())), "{e}");
    }
}
