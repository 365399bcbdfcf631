//! HPKE (RFC 9180) as DAP uses it: one key pair per aggregator (and one for
//! the collector), X25519 + HKDF-SHA256 + ChaCha20-Poly1305, a fresh context
//! per message, and DAP's application info: a label, then the sender's and
//! the recipient's roles.

use ::hpke::aead::ChaCha20Poly1305;
use ::hpke::kdf::HkdfSha256;
use ::hpke::kem::X25519HkdfSha256;
use ::hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use janus_messages::codec::{Decode, Encode};
use janus_messages::{
    HpkeAeadId, HpkeCiphertext, HpkeConfig, HpkeConfigId, HpkeKdfId, HpkeKemId, HpkePublicKey, Role,
};
use sha2::{Digest, Sha256};

use super::problem;
use crate::Error;

type Kem = X25519HkdfSha256;

/// What a ciphertext carries, which DAP binds into its HPKE context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// A report's input share (client → aggregator).
    InputShare,
    /// An aggregate share (aggregator → collector).
    AggregateShare,
}

impl Label {
    fn as_bytes(self) -> &'static [u8] {
        match self {
            Label::InputShare => b"dap-09 input share",
            Label::AggregateShare => b"dap-09 aggregate share",
        }
    }
}

fn info(label: Label, sender: Role, recipient: Role) -> Vec<u8> {
    [label.as_bytes(), &[sender as u8], &[recipient as u8]].concat()
}

/// An aggregator's (or the collector's) HPKE key pair.
#[derive(Clone)]
pub struct Keypair {
    config: HpkeConfig,
    private_key: <Kem as ::hpke::Kem>::PrivateKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keypair")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Keypair {
    /// The key pair derived from a secret (at least 32 bytes) and a purpose,
    /// so an aggregator keeps its keys across restarts with one secret.
    pub fn derive(config_id: u8, secret: &[u8], purpose: &str) -> Result<Keypair, Error> {
        if secret.len() < 32 {
            return Err(problem(
                "invalidConfiguration",
                "an aggregator secret has at least 32 bytes",
            ));
        }
        let ikm = Sha256::new()
            .chain_update(b"cove hpke key v1")
            .chain_update((purpose.len() as u32).to_be_bytes())
            .chain_update(purpose.as_bytes())
            .chain_update(secret)
            .finalize();
        let (private_key, public_key) = Kem::derive_keypair(&ikm);
        let config = HpkeConfig::new(
            HpkeConfigId::from(config_id),
            HpkeKemId::X25519HkdfSha256,
            HpkeKdfId::HkdfSha256,
            HpkeAeadId::ChaCha20Poly1305,
            HpkePublicKey::from(public_key.to_bytes().to_vec()),
        );
        Ok(Keypair {
            config,
            private_key,
        })
    }

    /// The public configuration (what `GET /hpke_config` serves).
    pub fn config(&self) -> &HpkeConfig {
        &self.config
    }

    /// Opens a ciphertext sealed to this key pair.
    pub fn open(
        &self,
        label: Label,
        sender: Role,
        recipient: Role,
        ciphertext: &HpkeCiphertext,
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if ciphertext.config_id() != self.config.id() {
            return Err(problem(
                "outdatedConfig",
                format!("sealed to HPKE config {}", ciphertext.config_id()),
            ));
        }
        let encapped = <Kem as ::hpke::Kem>::EncappedKey::from_bytes(ciphertext.encapsulated_key())
            .map_err(|_| {
                problem(
                    "invalidMessage",
                    "the encapsulated key is not an X25519 key",
                )
            })?;
        ::hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &self.private_key,
            &encapped,
            &info(label, sender, recipient),
            ciphertext.payload(),
            aad,
        )
        .map_err(|_| {
            problem(
                "invalidMessage",
                "the ciphertext does not open with this key",
            )
        })
    }
}

/// Seals `plaintext` to `recipient`'s configuration.
pub fn seal(
    recipient_config: &HpkeConfig,
    label: Label,
    sender: Role,
    recipient: Role,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<HpkeCiphertext, Error> {
    check_config(recipient_config)?;
    let public_key =
        <Kem as ::hpke::Kem>::PublicKey::from_bytes(recipient_config.public_key().as_ref())
            .map_err(|_| {
                problem(
                    "invalidConfiguration",
                    "the public key is not an X25519 key",
                )
            })?;
    let (encapped, payload) = ::hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &public_key,
        &info(label, sender, recipient),
        plaintext,
        aad,
        &mut rand::rngs::OsRng,
    )
    .map_err(|error| problem("invalidConfiguration", format!("HPKE seal: {error}")))?;
    Ok(HpkeCiphertext::new(
        *recipient_config.id(),
        encapped.to_bytes().to_vec(),
        payload,
    ))
}

/// Checks that a configuration uses the one suite this implementation speaks.
pub fn check_config(config: &HpkeConfig) -> Result<(), Error> {
    let suite_ok = *config.kem_id() == HpkeKemId::X25519HkdfSha256
        && *config.kdf_id() == HpkeKdfId::HkdfSha256
        && *config.aead_id() == HpkeAeadId::ChaCha20Poly1305
        && config.public_key().as_ref().len() == 32;
    if suite_ok {
        Ok(())
    } else {
        Err(problem(
            "invalidConfiguration",
            "only X25519-HKDF-SHA256 with ChaCha20-Poly1305 is supported",
        ))
    }
}

/// A configuration as base64url text (its DAP encoding), for JSON.
pub fn config_to_text(config: &HpkeConfig) -> String {
    base64url(&config.get_encoded().unwrap_or_default())
}

/// Reads a configuration from [`config_to_text`]'s form and checks its suite.
pub fn config_from_text(text: &str) -> Result<HpkeConfig, Error> {
    let bytes = from_base64url(text)
        .ok_or_else(|| problem("invalidConfiguration", "an HPKE config is base64url"))?;
    let config = HpkeConfig::get_decoded(&bytes)
        .map_err(|error| problem("invalidConfiguration", format!("HPKE config: {error}")))?;
    check_config(&config)?;
    Ok(config)
}

/// Base64url without padding (DAP's encoding of ids and configs in text).
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The inverse of [`base64url`]; `None` for anything else.
pub fn from_base64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_shares_open_only_with_the_right_key_label_and_aad() {
        let secret = [7u8; 32];
        let leader = Keypair::derive(1, &secret, "leader").unwrap();
        let other = Keypair::derive(1, &secret, "helper").unwrap();
        let sealed = seal(
            leader.config(),
            Label::InputShare,
            Role::Client,
            Role::Leader,
            b"share",
            b"aad",
        )
        .unwrap();
        let open = |key: &Keypair, label, aad: &[u8]| {
            key.open(label, Role::Client, Role::Leader, &sealed, aad)
        };
        assert_eq!(open(&leader, Label::InputShare, b"aad").unwrap(), b"share");
        assert!(open(&other, Label::InputShare, b"aad").is_err());
        assert!(open(&leader, Label::AggregateShare, b"aad").is_err());
        assert!(open(&leader, Label::InputShare, b"other").is_err());
    }

    #[test]
    fn configs_round_trip_as_text_and_short_secrets_are_refused() {
        let key = Keypair::derive(3, &[1u8; 40], "leader").unwrap();
        let text = config_to_text(key.config());
        assert_eq!(&config_from_text(&text).unwrap(), key.config());
        assert!(config_from_text("not base64!").is_err());
        assert!(config_from_text("AAAA").is_err());
        assert!(Keypair::derive(1, &[1u8; 31], "leader").is_err());
    }

    #[test]
    fn base64url_round_trips() {
        for length in 0..40 {
            let bytes: Vec<u8> = (0..length).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(from_base64url(&base64url(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base64url(b"\xfb\xff"), "-_8");
        assert!(from_base64url("a").is_none());
        assert!(from_base64url("ab+/").is_none());
    }
}
