//! The device's randomness in the browser: `crypto.getRandomValues`, the
//! platform's CSPRNG, on the page and in a Web Worker alike.
//!
//! The privacy mechanisms take any generator bounded by `CryptoRng`; here it
//! is the host's own, read 256 bytes at a time. (The snippet used to pass a
//! 32-byte seed from the same source for a ChaCha20 generator in wasm; asking
//! the source directly removes the cipher, 6 KB of the module.)

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use wasm_bindgen::prelude::*;

use cove_bindings::to_js_error;
use cove_engine::Error;

#[wasm_bindgen]
extern "C" {
    /// `globalThis.crypto.getRandomValues(buffer)`.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buffer: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// How many random bytes one call to the host fetches.
const POOL: usize = 256;

/// A generator over `crypto.getRandomValues`.
pub(super) struct HostRng {
    pool: [u8; POOL],
    /// Bytes of `pool` already handed out.
    used: usize,
}

impl HostRng {
    /// A generator with its first bytes drawn, so that a page without Web
    /// Crypto gets a typed error here rather than later.
    pub(super) fn new() -> Result<HostRng, JsValue> {
        let mut rng = HostRng {
            pool: [0; POOL],
            used: POOL,
        };
        rng.refill()?;
        Ok(rng)
    }

    fn refill(&mut self) -> Result<(), JsValue> {
        get_random_values(&mut self.pool).map_err(|_| {
            to_js_error(Error::InvalidParameter {
                name: "crypto",
                reason: "crypto.getRandomValues is unavailable",
            })
        })?;
        self.used = 0;
        Ok(())
    }

    fn fill(&mut self, out: &mut [u8]) {
        let mut written = 0;
        while written < out.len() {
            if self.used == POOL {
                // It answered once for this generator; if the host's source
                // failed now, no randomness may be made up: the call throws.
                if let Err(error) = self.refill() {
                    wasm_bindgen::throw_val(error);
                }
            }
            let take = (out.len() - written).min(POOL - self.used);
            out[written..written + take].copy_from_slice(&self.pool[self.used..self.used + take]);
            // Each byte is handed out once.
            self.pool[self.used..self.used + take].fill(0);
            self.used += take;
            written += take;
        }
    }
}

impl TryRng for HostRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0; 4];
        self.fill(&mut bytes);
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0; 8];
        self.fill(&mut bytes);
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, out: &mut [u8]) -> Result<(), Infallible> {
        self.fill(out);
        Ok(())
    }
}

/// The host's source is a CSPRNG.
impl TryCryptoRng for HostRng {}
