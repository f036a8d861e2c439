//! The control plane's certificates, made in-process with rcgen: one CA signs the
//! serving certificates (API server, scheduler, controller-manager, webhooks) and the
//! client certificates (admin and the components), so one `--client-ca-file` and one
//! `caBundle` cover everything.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate and its private key, both PEM (the key is PKCS#8, which Go's
/// `tls.X509KeyPair` and rustls both read).
#[derive(Clone, Debug)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The cluster's CA: signs every certificate the control plane and the tests use.
pub struct CertAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

impl CertAuthority {
    pub fn new(common_name: &str) -> Result<Self> {
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(common_name, None);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .context("self-signing the CA certificate")?;
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM: a webhook's `caBundle`, a kubeconfig's
    /// `certificate-authority-data`, `--client-ca-file`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA's private key, PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A serving certificate for `sans` (IP addresses and DNS names; an entry that
    /// parses as an IP becomes an IP SAN, which clients dialling 127.0.0.1 need).
    pub fn issue_serving(&self, common_name: &str, sans: &[&str]) -> Result<CertPair> {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .with_context(|| format!("invalid subject alternative names {sans:?}"))?;
        params.distinguished_name = name(common_name, None);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        self.sign(params, common_name)
    }

    /// A client certificate: Kubernetes' x509 authenticator takes the user from the CN
    /// and the group from the O. At most one group: rcgen's `DistinguishedName` keeps one
    /// value per attribute type (use impersonation for more).
    pub fn issue_client(&self, user: &str, group: Option<&str>) -> Result<CertPair> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(user, group);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        self.sign(params, user)
    }

    fn sign(&self, params: CertificateParams, what: &str) -> Result<CertPair> {
        let key = KeyPair::generate().with_context(|| format!("generating the key of {what}"))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("signing the certificate of {what}"))?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The service-account token signing key pair (ECDSA P-256, so tokens are ES256): the
/// private key for `--service-account-signing-key-file` and the controller-manager's
/// `--service-account-private-key-file`, the public key for `--service-account-key-file`.
pub struct ServiceAccountKey {
    pub private_pem: String,
    pub public_pem: String,
}

impl ServiceAccountKey {
    pub fn new() -> Result<Self> {
        let key = KeyPair::generate().context("generating the service-account signing key")?;
        Ok(Self {
            private_pem: key.serialize_pem(),
            public_pem: key.public_key_pem(),
        })
    }
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}
