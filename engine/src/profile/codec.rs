//! The compact binary profile format.
//!
//! Layout: the magic `b"CVPF"`, the format version (LEB128), the fields in
//! declaration order, and a CRC-32 (IEEE, little-endian) of everything before
//! it. Integers are LEB128 (signed ones zigzag-encoded), floats are
//! little-endian IEEE bits, strings and lists are a LEB128 length and their
//! contents, options and booleans one byte (0 or 1; anything else is corrupt).
//! Lengths are checked against the config's limits before anything is
//! allocated, so a hostile length cannot make the decoder allocate much.

use super::{CartLine, ItemSignal, Profile, ProfileConfig, SessionState, PROFILE_VERSION};
use crate::events::PageKind;
use crate::Error;

const MAGIC: &[u8; 4] = b"CVPF";

pub(super) fn encode(profile: &Profile) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(256 + profile.items.len() * 32));
    out.0.extend_from_slice(MAGIC);
    out.uint(profile.version as u64);
    out.uint(profile.items.len() as u64);
    for signal in &profile.items {
        out.string(&signal.id);
        out.f32(signal.weight);
        out.int(signal.at);
        out.bool(signal.purchased);
        out.bool(signal.disliked);
    }
    out.uint(profile.cart.len() as u64);
    for line in &profile.cart {
        out.string(&line.id);
        out.uint(line.quantity as u64);
        out.f64(line.price);
    }
    out.uint(profile.queries.len() as u64);
    for query in &profile.queries {
        out.string(query);
    }
    out.uint(profile.orders as u64);
    out.f64(profile.spend);
    out.opt_int(profile.first_purchase_at);
    out.opt_int(profile.last_purchase_at);
    out.opt_int(profile.first_seen_at);
    out.opt_int(profile.latest_at);
    out.f64(profile.price_weight);
    out.f64(profile.price_log_sum);
    out.int(profile.price_at);
    out.uint(profile.sessions as u64);
    out.uint(profile.abandoned_carts as u64);
    let session = &profile.session;
    out.int(session.started_at);
    out.opt_int(session.last_view_at);
    match session.last_page {
        None => out.0.push(0),
        Some(page) => out.0.push(1 + page.index() as u8),
    }
    for pages in session.pages {
        out.uint(pages as u64);
    }
    for duration in session.durations {
        out.f64(duration);
    }
    out.bool(session.purchased);
    let crc = crc32(&out.0);
    out.0.extend_from_slice(&crc.to_le_bytes());
    out.0
}

pub(super) fn decode(bytes: &[u8], config: &ProfileConfig) -> Result<Profile, Error> {
    let params = config.params();
    if bytes.len() > params.max_bytes {
        return Err(Error::corrupt("longer than max_bytes"));
    }
    if bytes.len() < MAGIC.len() + 1 + 4 || &bytes[..4] != MAGIC {
        return Err(Error::corrupt("not a Cove profile (bad magic)"));
    }
    // The version comes before the checksum check, so that a profile of
    // another format version gets the precise error.
    let mut reader = Reader {
        bytes: &bytes[..bytes.len() - 4],
        position: 4,
    };
    let version = reader.uint()?;
    if version != PROFILE_VERSION as u64 {
        return Err(Error::UnsupportedProfileVersion {
            found: version.min(u32::MAX as u64) as u32,
            supported: PROFILE_VERSION,
        });
    }
    let (body, stored_crc) = bytes.split_at(bytes.len() - 4);
    let stored_crc =
        u32::from_le_bytes([stored_crc[0], stored_crc[1], stored_crc[2], stored_crc[3]]);
    if crc32(body) != stored_crc {
        return Err(Error::corrupt("checksum mismatch"));
    }

    let id_len = params.max_item_id_len;
    let n_items = reader.len(params.max_items)?;
    let mut items = Vec::with_capacity(n_items);
    for _ in 0..n_items {
        items.push(ItemSignal {
            id: reader.string(id_len)?,
            weight: reader.f32()?,
            at: reader.int()?,
            purchased: reader.bool()?,
            disliked: reader.bool()?,
        });
    }
    let n_lines = reader.len(params.max_cart_lines)?;
    let mut cart = Vec::with_capacity(n_lines);
    for _ in 0..n_lines {
        cart.push(CartLine {
            id: reader.string(id_len)?,
            quantity: reader.u32()?,
            price: reader.f64()?,
        });
    }
    let n_queries = reader.len(params.max_queries)?;
    let mut queries = Vec::with_capacity(n_queries);
    for _ in 0..n_queries {
        queries.push(reader.string(params.max_query_len)?);
    }
    let orders = reader.u32()?;
    let spend = reader.f64()?;
    let first_purchase_at = reader.opt_int()?;
    let last_purchase_at = reader.opt_int()?;
    let first_seen_at = reader.opt_int()?;
    let latest_at = reader.opt_int()?;
    let price_weight = reader.f64()?;
    let price_log_sum = reader.f64()?;
    let price_at = reader.int()?;
    let sessions = reader.u32()?;
    let abandoned_carts = reader.u32()?;
    let started_at = reader.int()?;
    let last_view_at = reader.opt_int()?;
    let last_page = match reader.byte()? {
        0 => None,
        1 => Some(PageKind::Administrative),
        2 => Some(PageKind::Informational),
        3 => Some(PageKind::Product),
        _ => return Err(Error::corrupt("unknown page kind")),
    };
    let pages = [reader.u32()?, reader.u32()?, reader.u32()?];
    let durations = [reader.f64()?, reader.f64()?, reader.f64()?];
    let purchased = reader.bool()?;
    if reader.position != reader.bytes.len() {
        return Err(Error::corrupt("trailing bytes after the last field"));
    }
    Ok(Profile {
        version: PROFILE_VERSION,
        items,
        cart,
        queries,
        orders,
        spend,
        first_purchase_at,
        last_purchase_at,
        first_seen_at,
        latest_at,
        price_weight,
        price_log_sum,
        price_at,
        sessions,
        abandoned_carts,
        session: SessionState {
            started_at,
            last_view_at,
            last_page,
            pages,
            durations,
            purchased,
        },
    })
}

/// The format's writer (also the reporter's model digest's, `privacy::digest`).
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn uint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }
    pub(crate) fn int(&mut self, value: i64) {
        self.uint(((value << 1) ^ (value >> 63)) as u64);
    }
    pub(crate) fn opt_int(&mut self, value: Option<i64>) {
        match value {
            None => self.0.push(0),
            Some(value) => {
                self.0.push(1);
                self.int(value);
            }
        }
    }
    pub(crate) fn f32(&mut self, value: f32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn f64(&mut self, value: f64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn bool(&mut self, value: bool) {
        self.0.push(value as u8);
    }
    pub(crate) fn string(&mut self, value: &str) {
        self.uint(value.len() as u64);
        self.0.extend_from_slice(value.as_bytes());
    }
}

/// The format's reader (also the model digest's); its errors are
/// [`Error::CorruptProfile`].
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) position: usize,
}

impl Reader<'_> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&[u8], Error> {
        let end = self
            .position
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.position..end];
                self.position = end;
                Ok(slice)
            }
            None => Err(Error::corrupt("truncated")),
        }
    }
    pub(crate) fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn uint(&mut self) -> Result<u64, Error> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = (byte & 0x7f) as u64;
            if shift == 63 && bits > 1 {
                return Err(Error::corrupt("integer overflows 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::corrupt("integer longer than 10 bytes"))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        u32::try_from(self.uint()?).map_err(|_| Error::corrupt("integer overflows 32 bits"))
    }
    pub(crate) fn int(&mut self) -> Result<i64, Error> {
        let raw = self.uint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
    pub(crate) fn opt_int(&mut self) -> Result<Option<i64>, Error> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.int()?)),
            _ => Err(Error::corrupt("option tag is not 0 or 1")),
        }
    }
    pub(crate) fn bool(&mut self) -> Result<bool, Error> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error::corrupt("boolean is not 0 or 1")),
        }
    }
    pub(crate) fn f32(&mut self) -> Result<f32, Error> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn f64(&mut self) -> Result<f64, Error> {
        let b = self.take(8)?;
        Ok(f64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }
    pub(crate) fn len(&mut self, limit: usize) -> Result<usize, Error> {
        let n = self.uint()?;
        if n > limit as u64 {
            return Err(Error::corrupt("a length breaks its limit"));
        }
        Ok(n as usize)
    }
    pub(crate) fn string(&mut self, limit: usize) -> Result<String, Error> {
        let n = self.len(limit)?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(String::from)
            .map_err(|_| Error::corrupt("a string is not UTF-8"))
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), table-driven.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for byte in bytes {
        crc = TABLE[((crc ^ *byte as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
