//! Fuzzes the bundle loader. The input is split into a manifest and a tensor
//! file at a position taken from its first two bytes. Half the time the
//! manifest is resealed (tensor digest and model id recomputed) so that the
//! fuzzer gets past the checksums into the shape and value checks.
#![no_main]

use cove_engine::bundle::{seal_manifest, sha256_hex, Manifest, Model, MODEL_ID_PREFIX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let reseal = data[0] & 1 == 1;
    let split = (u16::from_le_bytes([data[1], data[2]]) as usize).min(data.len() - 3);
    let (manifest, tensors) = data[3..].split_at(split);
    if reseal {
        if let Ok(mut parsed) = Manifest::from_json(manifest) {
            parsed.tensors.sha256 = sha256_hex(tensors);
            parsed.tensors.byte_len = tensors.len() as u64;
            if let Ok(mut resealed) = serde_json::to_vec(&parsed) {
                if seal_manifest(&mut resealed, MODEL_ID_PREFIX).is_ok() {
                    let _ = Model::from_bytes(&resealed, tensors);
                }
            }
            return;
        }
    }
    let _ = Model::from_bytes(manifest, tensors);
});
