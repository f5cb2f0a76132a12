//! The subset of crc-fast's API that `aws-smithy-checksums` calls: [`Digest`] and
//! [`checksum`] for the three algorithms S3's flexible checksums use. All three are reflected
//! CRCs, computed a byte at a time from one 256-entry table built at compile time.
//!
//! S3's PutObject reference lists the checksums an upload may carry: "CRC32, CRC32C,
//! CRC64NVME, SHA1, SHA256"; the two SHAs come from the sha1 and sha2 crates, the three CRCs
//! from here. The enum has only these three, so no other algorithm can be asked for.

/// The algorithms, named as crc-fast names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcAlgorithm {
    /// CRC-32/ISO-HDLC: S3's `CRC32`.
    Crc32IsoHdlc,
    /// CRC-32/ISCSI (Castagnoli): S3's `CRC32C`.
    Crc32Iscsi,
    /// CRC-64/NVME: S3's `CRC64NVME`.
    Crc64Nvme,
}

/// One reflected CRC: its table, initial value and final XOR.
#[derive(Debug)]
struct Params {
    table: [u64; 256],
    init: u64,
    xorout: u64,
}

const fn table(reflected_poly: u64) -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ reflected_poly
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC32_ISO_HDLC: Params = Params {
    table: table(0xEDB8_8320),
    init: 0xFFFF_FFFF,
    xorout: 0xFFFF_FFFF,
};
static CRC32_ISCSI: Params = Params {
    table: table(0x82F6_3B78),
    init: 0xFFFF_FFFF,
    xorout: 0xFFFF_FFFF,
};
static CRC64_NVME: Params = Params {
    table: table(0x9A6C_9329_AC4B_C9B5),
    init: u64::MAX,
    xorout: u64::MAX,
};

impl CrcAlgorithm {
    fn params(self) -> &'static Params {
        match self {
            CrcAlgorithm::Crc32IsoHdlc => &CRC32_ISO_HDLC,
            CrcAlgorithm::Crc32Iscsi => &CRC32_ISCSI,
            CrcAlgorithm::Crc64Nvme => &CRC64_NVME,
        }
    }
}

/// A running CRC.
#[derive(Debug, Clone)]
pub struct Digest {
    params: &'static Params,
    state: u64,
}

impl Digest {
    pub fn new(algorithm: CrcAlgorithm) -> Self {
        let params = algorithm.params();
        Self {
            params,
            state: params.init,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        let table = &self.params.table;
        let mut crc = self.state;
        for &byte in data {
            crc = table[((crc ^ u64::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
        }
        self.state = crc;
    }

    /// The CRC of everything given so far (the digest can go on).
    pub fn finalize(&self) -> u64 {
        self.state ^ self.params.xorout
    }

    /// [`finalize`](Self::finalize), then start again.
    pub fn finalize_reset(&mut self) -> u64 {
        let crc = self.finalize();
        self.reset();
        crc
    }

    pub fn reset(&mut self) {
        self.state = self.params.init;
    }
}

/// The CRC of `buf`.
pub fn checksum(algorithm: CrcAlgorithm, buf: &[u8]) -> u64 {
    let mut digest = Digest::new(algorithm);
    digest.update(buf);
    digest.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check values of the CRC catalogue (reveng.sourceforge.io/crc-catalogue): the CRC of
    /// the ASCII string "123456789".
    #[test]
    fn catalogue_check_values() {
        assert_eq!(
            checksum(CrcAlgorithm::Crc32IsoHdlc, b"123456789"),
            0xCBF4_3926
        );
        assert_eq!(
            checksum(CrcAlgorithm::Crc32Iscsi, b"123456789"),
            0xE306_9283
        );
        assert_eq!(
            checksum(CrcAlgorithm::Crc64Nvme, b"123456789"),
            0xAE8B_1486_0A79_9888
        );
    }

    #[test]
    fn empty_input_is_the_initial_value_xored_out() {
        assert_eq!(checksum(CrcAlgorithm::Crc32IsoHdlc, b""), 0);
        assert_eq!(checksum(CrcAlgorithm::Crc64Nvme, b""), 0);
    }

    #[test]
    fn updates_in_pieces_equal_one_update() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for algorithm in [
            CrcAlgorithm::Crc32IsoHdlc,
            CrcAlgorithm::Crc32Iscsi,
            CrcAlgorithm::Crc64Nvme,
        ] {
            let mut digest = Digest::new(algorithm);
            for piece in data.chunks(997) {
                digest.update(piece);
            }
            assert_eq!(
                digest.finalize(),
                checksum(algorithm, &data),
                "{algorithm:?}"
            );
            assert_eq!(digest.finalize_reset(), checksum(algorithm, &data));
            assert_eq!(digest.finalize(), checksum(algorithm, b""));
        }
    }

    /// S3's documented example values would be base64 of the big-endian CRC; the SDK encodes,
    /// this crate only computes. "hello world" against well-known CRC-32 / CRC-32C values.
    #[test]
    fn known_hello_world_values() {
        assert_eq!(
            checksum(CrcAlgorithm::Crc32IsoHdlc, b"hello world"),
            0x0D4A_1185
        );
        assert_eq!(
            checksum(CrcAlgorithm::Crc32Iscsi, b"hello world"),
            0xC994_65AA
        );
    }
}
