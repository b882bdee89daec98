//! Certificates made by the tests (rcgen): a production's own CA and the relay
//! certificates it issues, valid for `localhost` and `127.0.0.1`. rcgen's default
//! validity spans centuries, so nothing here depends on the date.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A certificate authority, as a production running its own relay would make one.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// The CA certificate, PEM: what devices are told to trust.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses): (chain PEM, key PEM).
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "setlink relay");
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        (cert.pem(), key.serialize_pem())
    }

    /// Issues a relay certificate for `localhost` and `127.0.0.1` and writes it to
    /// `dir/relay.pem` and `dir/relay-key.pem`, replacing what was there the way renewal
    /// tools do (a new file renamed over the old). Returns the two paths.
    pub fn write_relay_files(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = self.issue(&["localhost", "127.0.0.1"]);
        let cert_path = dir.join("relay.pem");
        let key_path = dir.join("relay-key.pem");
        replace(&key_path, &key);
        replace(&cert_path, &cert);
        (cert_path, key_path)
    }
}

/// Writes `path` atomically: a temporary file renamed over it.
pub fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).expect("write certificate file");
    std::fs::rename(&tmp, path).expect("rename certificate file");
}
