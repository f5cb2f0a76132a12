//! Differential tests: for random inputs fed in one to three updates, the way
//! aws-smithy-checksums feeds body chunks to `Digest::update`, this crate's three CRCs equal the
//! `crc` crate's implementations of the same catalogue entries.

use crc::{CRC_32_ISCSI, CRC_32_ISO_HDLC, CRC_64_NVME, Crc};
use crc_fast::{CrcAlgorithm, Digest, checksum};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// Random bytes (0..4096 of them) and zero to two cut points, so one to three updates; the
/// pieces between cuts may be empty.
fn input() -> impl Strategy<Value = (Vec<u8>, Vec<Index>)> {
    (vec(any::<u8>(), 0..4096), vec(any::<Index>(), 0..=2))
}

/// Feeds `data` to a [`Digest`] in the pieces `cuts` makes, checking after each update that
/// the digest so far is `expected` of the bytes so far, and that the end result equals both
/// `expected(data)` and [`checksum`].
fn check(
    algorithm: CrcAlgorithm,
    expected: impl Fn(&[u8]) -> u64,
    data: &[u8],
    cuts: &[Index],
) -> Result<(), TestCaseError> {
    let mut ends: Vec<usize> = cuts.iter().map(|cut| cut.index(data.len() + 1)).collect();
    ends.sort_unstable();
    ends.push(data.len());

    let mut digest = Digest::new(algorithm);
    let mut start = 0;
    for end in ends {
        digest.update(&data[start..end]);
        prop_assert_eq!(
            digest.finalize(),
            expected(&data[..end]),
            "{:?} after updating with bytes {}..{} of {}",
            algorithm,
            start,
            end,
            data.len()
        );
        start = end;
    }
    prop_assert_eq!(digest.finalize(), expected(data));
    prop_assert_eq!(checksum(algorithm, data), expected(data));
    Ok(())
}

proptest! {
    #[test]
    fn crc32_iso_hdlc_equals_the_crc_crates_crc_32_iso_hdlc((data, cuts) in input()) {
        let reference = Crc::<u32>::new(&CRC_32_ISO_HDLC);
        check(
            CrcAlgorithm::Crc32IsoHdlc,
            |bytes| u64::from(reference.checksum(bytes)),
            &data,
            &cuts,
        )?;
    }

    #[test]
    fn crc32_iscsi_equals_the_crc_crates_crc_32_iscsi((data, cuts) in input()) {
        let reference = Crc::<u32>::new(&CRC_32_ISCSI);
        check(
            CrcAlgorithm::Crc32Iscsi,
            |bytes| u64::from(reference.checksum(bytes)),
            &data,
            &cuts,
        )?;
    }

    #[test]
    fn crc64_nvme_equals_the_crc_crates_crc_64_nvme((data, cuts) in input()) {
        let reference = Crc::<u64>::new(&CRC_64_NVME);
        check(CrcAlgorithm::Crc64Nvme, |bytes| reference.checksum(bytes), &data, &cuts)?;
    }
}
