//! Webhook signatures: `sha256=<hex HMAC-SHA256(secret, raw body)>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "sha256=";

/// The signature header value for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let digest = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC accepts keys of any length, so this branch is unreachable in practice.
        Err(_) => Vec::new(),
    };
    let mut text = String::with_capacity(PREFIX.len() + digest.len() * 2);
    text.push_str(PREFIX);
    for byte in digest {
        text.push(hex_digit(byte >> 4));
        text.push(hex_digit(byte & 0x0f));
    }
    text
}

/// Whether `header` is the right signature of `body`, compared in constant time.
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix(PREFIX) else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_and_round_trip() {
        // RFC 4231 test case 2.
        let signature = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            signature,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify("Jefe", b"what do ya want for nothing?", &signature));
        assert!(verify(
            "Jefe",
            b"what do ya want for nothing?",
            &signature.to_uppercase().replace("SHA256=", "sha256=")
        ));
        assert!(!verify("Jefe", b"what do ya want for nothing!", &signature));
        assert!(!verify("jefe", b"what do ya want for nothing?", &signature));
        assert!(!verify(
            "Jefe",
            b"what do ya want for nothing?",
            "sha256=zz"
        ));
        assert!(!verify(
            "Jefe",
            b"what do ya want for nothing?",
            &signature[7..]
        ));
    }
}
