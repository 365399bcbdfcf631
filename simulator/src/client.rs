//! Envelopes to the worker: one POST per envelope, from the device's own
//! client address and its customer's country, retried with the same bytes.

use std::time::Duration;

/// How long one request may take (a loaded worker answers in about a second).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per envelope.
pub const MAX_ATTEMPTS: u32 = 6;
/// Envelopes in a row that fail every attempt before the run gives up.
pub const MAX_FAILED_IN_A_ROW: usize = 16;

/// A client's HTTP agent: statuses are answers, not errors, and every
/// request has [`REQUEST_TIMEOUT`].
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .build()
        .into()
}

/// Posts one envelope; an overloaded worker (5xx, 429) or a dropped
/// connection is retried with the same bytes, as the snippet does, and a 409
/// on a retry means the earlier attempt was counted (the nonce is known).
pub fn post_with_retries(
    agent: &ureq::Agent,
    url: &str,
    body: &str,
    address: &str,
    country: &str,
) -> std::result::Result<u16, ureq::Error> {
    let mut attempt = 0;
    loop {
        let result = agent
            .post(url)
            .header("content-type", "application/json")
            .header("cf-connecting-ip", address)
            .header("cf-ipcountry", country)
            .send(body)
            .map(|mut response| {
                let _ = response.body_mut().read_to_vec();
                response.status().as_u16()
            });
        let retry = match &result {
            Ok(status) => *status == 429 || *status >= 500,
            Err(_) => true,
        };
        if !retry || attempt + 1 == MAX_ATTEMPTS {
            return match result {
                Ok(409) if attempt > 0 => Ok(202),
                other => other,
            };
        }
        attempt += 1;
        std::thread::sleep(Duration::from_millis(200 << attempt));
    }
}

/// A distinct client address per device, as distinct devices would have.
pub fn client_address(device: usize) -> String {
    format!(
        "10.{}.{}.{}",
        (device >> 16) & 255,
        (device >> 8) & 255,
        device & 255
    )
}

#[cfg(test)]
mod tests {
    use super::client_address;

    #[test]
    fn every_device_of_a_large_run_has_its_own_address() {
        let addresses: std::collections::HashSet<String> =
            (0..1_000_000).step_by(997).map(client_address).collect();
        assert_eq!(addresses.len(), (0..1_000_000).step_by(997).count());
        assert_eq!(client_address(0x01_02_03), "10.1.2.3");
    }
}
